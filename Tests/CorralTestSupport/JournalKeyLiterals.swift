import CorralCore

// Tests name subjects and classes as the journal writes them (`"0000:03:00.0"`, `"dma-fault"`);
// a literal is read as `Subject(name:)` / `ObservedClass(name:)` read a journal row. Only
// tests get this: production code builds the typed values.

extension Subject: ExpressibleByStringLiteral {
    public init(stringLiteral value: String) { self.init(name: value) }
}

extension ObservedClass: ExpressibleByStringLiteral {
    public init(stringLiteral value: String) { self.init(name: value) }
}
