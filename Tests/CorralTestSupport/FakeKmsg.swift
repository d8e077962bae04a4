import CorralLinux

/// A kmsg of prepared records, with an optional overrun before a given record.
public struct FakeKmsg: KmsgSource {
    public var records: [[UInt8]]
    public var overrunBefore: Int?
    public var position = 0
    public var overrunDone = false

    public init(_ records: [String], overrunBefore: Int? = nil) {
        self.records = records.map { Array($0.utf8) }
        self.overrunBefore = overrunBefore
    }

    public mutating func read() -> KmsgRead {
        if let overrunBefore, position == overrunBefore, !overrunDone {
            overrunDone = true
            return .overrun
        }
        guard position < records.count else { return .end }
        position += 1
        return .record(records[position - 1])
    }
}
