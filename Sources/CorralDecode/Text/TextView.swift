#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A line or record of kernel log text, as raw bytes: a view of bytes someone else holds.
///
/// Kernel logs are parsed as bytes, not `String`s: a storm log is gigabytes of ASCII, arbitrary
/// bytes must never trap, and nothing needs Unicode until a field is shown to a person.
/// Every accessor is bounds-checked (`precondition`), and the scanners return `nil` instead of
/// failing.
///
/// **Why a view and not an `ArraySlice`.** Every slice of an array counts a reference to the
/// array when it is made, copied or dropped: a line went through dozens of them (prefix,
/// record, message, words, fields) — a fifth to a quarter of a replay's time in
/// `swift_retain`/`swift_release` (`benchmarks/ANALYSIS.md` §2). A view is a pointer and two
/// indices, with nothing to count.
///
/// **The rule that keeps it safe: a view never outlives the call that received it, unless it
/// points into a `TextStorage` its holder owns.** The places that make views say how long they
/// last: `Array.withByteText` and `LineBlock.eachLine` for the duration of their closure,
/// `TextStorage.text` until that storage is next changed. What the parser keeps between lines
/// (the pending record, the head of a joined one, an open event's emitter) it copies into
/// storage of its own first (`RecordAssembler`, `KernelLogParser`). Debug builds check the
/// second half of the rule on every access: a view of a storage that has changed since the
/// view was made stops the test that used it.
///
/// Indices are positions in the whole buffer the view was cut from, as with `ArraySlice`: a
/// part of a line keeps the line's numbering.
public struct ByteText: RandomAccessCollection {
    public typealias Index = Int
    public typealias Element = UInt8
    public typealias SubSequence = ByteText
    public typealias Indices = Range<Int>

    /// Where index 0 of the buffer is (the view covers `startIndex..<endIndex` of it).
    @usableFromInline let base: UnsafePointer<UInt8>
    public let startIndex: Int
    public let endIndex: Int
    #if DEBUG
        /// The storage the view is of (weakly: a view must not keep it alive, nor make it look
        /// shared to `TextStorage.unique`), and its generation when the view was made.
        @usableFromInline weak var storage: TextStorage?
        @usableFromInline let ofStorage: Bool
        @usableFromInline let generation: Int
    #endif

    @inlinable init(base: UnsafePointer<UInt8>, range: Range<Int>, storage: TextStorage? = nil) {
        self.base = base
        startIndex = range.lowerBound
        endIndex = range.upperBound
        #if DEBUG
            self.storage = storage
            ofStorage = storage != nil
            generation = storage?.generation ?? 0
        #endif
    }

    @inlinable init(_ other: ByteText, range: Range<Int>) {
        base = other.base
        startIndex = range.lowerBound
        endIndex = range.upperBound
        #if DEBUG
            storage = other.storage
            ofStorage = other.ofStorage
            generation = other.generation
        #endif
    }

    /// The view of an empty text (a buffer of its own, never read).
    nonisolated(unsafe) public static let empty = ByteText(base: UnsafePointer(emptyBase), range: 0..<0)
    nonisolated(unsafe) private static let emptyBase: UnsafeMutablePointer<UInt8> = {
        let pointer = UnsafeMutablePointer<UInt8>.allocate(capacity: 1)
        pointer.initialize(to: 0)
        return pointer
    }()

    /// Debug builds: the view's storage has not changed since the view was made.
    @inlinable @inline(__always) func checkAlive() {
        #if DEBUG
            if ofStorage {
                precondition(storage?.generation == generation, "ByteText used after its TextStorage changed or went")
            }
        #endif
    }

    @inlinable public subscript(position: Int) -> UInt8 {
        precondition(position >= startIndex && position < endIndex, "ByteText index out of range")
        checkAlive()
        return base[position]
    }

    @inlinable public subscript(bounds: Range<Int>) -> ByteText {
        precondition(bounds.lowerBound >= startIndex && bounds.upperBound <= endIndex, "ByteText range out of bounds")
        return ByteText(self, range: bounds)
    }

    @inlinable public var indices: Range<Int> { startIndex..<endIndex }
    @inlinable public var count: Int { endIndex - startIndex }
    @inlinable public var isEmpty: Bool { endIndex == startIndex }
    @inlinable public func index(after i: Int) -> Int { i + 1 }
    @inlinable public func index(before i: Int) -> Int { i - 1 }
    @inlinable public func index(_ i: Int, offsetBy distance: Int) -> Int { i + distance }
    @inlinable public func distance(from start: Int, to end: Int) -> Int { end - start }

    /// The bytes of the view as a buffer (its first element is `startIndex`).
    @inlinable public func withUnsafeBufferPointer<R>(_ body: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        checkAlive()
        return try body(UnsafeBufferPointer(start: base + startIndex, count: count))
    }

    @inlinable public func withContiguousStorageIfAvailable<R>(_ body: (UnsafeBufferPointer<UInt8>) throws -> R)
        rethrows -> R?
    {
        try withUnsafeBufferPointer(body)
    }
}

extension ByteText: Equatable {
    /// Equal bytes (where they are does not matter).
    public static func == (lhs: ByteText, rhs: ByteText) -> Bool {
        guard lhs.count == rhs.count else { return false }
        return lhs.withUnsafeBufferPointer { left in
            rhs.withUnsafeBufferPointer { right in
                left.isEmpty || memcmp(left.baseAddress!, right.baseAddress!, left.count) == 0
            }
        }
    }
}

extension ByteText: CustomStringConvertible, CustomDebugStringConvertible {
    public var description: String { string }
    public var debugDescription: String { string.debugDescription }
}

extension Array where Element == UInt8 {
    /// The array's bytes as a `ByteText`, for the duration of `body` only.
    @inlinable public func withByteText<R>(_ body: (ByteText) throws -> R) rethrows -> R {
        try withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return try body(.empty) }
            return try body(ByteText(base: base, range: 0..<buffer.count))
        }
    }
}

extension ArraySlice where Element == UInt8 {
    /// The slice's bytes as a `ByteText` numbered as the slice is, for the duration of `body`.
    @inlinable public func withByteText<R>(_ body: (ByteText) throws -> R) rethrows -> R {
        let start = startIndex
        return try withUnsafeBufferPointer { buffer in
            guard let base = buffer.baseAddress else { return try body(.empty) }
            return try body(ByteText(base: base - start, range: start..<(start + buffer.count)))
        }
    }
}

/// Bytes the parser keeps between calls (a pending record, a joined record, an open event's
/// emitter, text rewritten from a line), in memory it owns: `text` is a view of them, valid
/// until the storage is next changed — debug builds check that (`ByteText`).
///
/// A class so that views keep pointing at the same bytes while the struct holding it is
/// copied; holders replace a storage they share instead of writing it (`unique`).
@usableFromInline final class TextStorage {
    private(set) var base: UnsafeMutablePointer<UInt8>
    private(set) var capacity: Int
    private(set) var count = 0
    /// Changes whenever the bytes do (views made before are then stale).
    @usableFromInline private(set) var generation = 0

    init(capacity: Int = 256) {
        self.capacity = max(16, capacity)
        base = .allocate(capacity: self.capacity)
    }

    deinit { base.deallocate() }

    /// The bytes held (valid until the next change).
    var text: ByteText { ByteText(base: UnsafePointer(base), range: 0..<count, storage: self) }

    var last: UInt8? { count > 0 ? base[count - 1] : nil }

    /// Holds `text` alone (which must not be a view of this storage).
    func set(_ text: ByteText) {
        count = 0
        append(text)
    }

    func set(_ bytes: [UInt8]) { bytes.withByteText { set($0) } }

    /// Adds `text` (which must not be a view of this storage) at the end.
    func append(_ text: ByteText) {
        // Growing would free the bytes a view of this storage reads from.
        precondition(text.base != UnsafePointer(base) || text.isEmpty, "TextStorage appended to itself")
        reserve(count + text.count)
        text.withUnsafeBufferPointer { buffer in
            if let source = buffer.baseAddress { (base + count).update(from: source, count: buffer.count) }
        }
        count += text.count
        generation &+= 1
    }

    func append(_ byte: UInt8) {
        reserve(count + 1)
        base[count] = byte
        count += 1
        generation &+= 1
    }

    func removeLast() {
        precondition(count > 0)
        count -= 1
        generation &+= 1
    }

    private func reserve(_ wanted: Int) {
        guard wanted > capacity else { return }
        var grown = capacity
        while grown < wanted { grown *= 2 }
        let bigger = UnsafeMutablePointer<UInt8>.allocate(capacity: grown)
        bigger.update(from: base, count: count)
        base.deallocate()
        base = bigger
        capacity = grown
    }
}

extension TextStorage {
    /// `storage`, to be written: replaced by a new one when another copy of its holder (a
    /// parser copied by `ParallelLogParser`) shares it, so that the other copy's views stay good.
    static func unique(_ storage: inout TextStorage, keepingBytes: Bool = false) -> TextStorage {
        if !isKnownUniquelyReferenced(&storage) {
            let copy = TextStorage(capacity: storage.capacity)
            if keepingBytes { copy.set(storage.text) }
            storage = copy
        }
        return storage
    }
}
