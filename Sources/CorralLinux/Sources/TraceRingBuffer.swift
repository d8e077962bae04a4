import CorralCore

/// The layout of one tracepoint's record, read from its tracefs `format` file
/// (`events/<system>/<name>/format`), so no offset is hard-coded: the kernel says where each
/// field is, for this kernel and this architecture.
///
/// ```
/// name: io_page_fault
/// ID: 1234
/// format:
/// 	field:unsigned short common_type;	offset:0;	size:2;	signed:0;
/// 	...
/// 	field:__data_loc char[] device;	offset:8;	size:4;	signed:1;
/// 	field:u64 iova;	offset:16;	size:8;	signed:0;
/// ```
public struct TraceEventFormat: Sendable, Equatable {
    public struct Field: Sendable, Equatable {
        public var name: String
        public var offset: Int
        public var size: Int
        public var isSigned: Bool
        /// `__data_loc`: a 32-bit word, offset of the bytes in the record (low 16 bits) and
        /// their length with the NUL (high 16). `__rel_loc`: the offset counts from the end
        /// of the word instead (kernel/trace/trace_events.c, `__get_rel_str`).
        public var location: Location

        public enum Location: Sendable, Equatable {
            case inline
            case dataLoc
            case relLoc
        }

        public var slot: Slot { Slot(offset: offset, size: size, location: location) }
    }

    public var name: String
    public var id: UInt16
    public var fields: [String: Field]

    /// Nil when the text has no `ID:` or a field line cannot be read (a format this reader does
    /// not know is never guessed at).
    public init?(text: String) {
        var name = ""
        var id: UInt16?
        var fields: [String: Field] = [:]
        for line in text.split(separator: "\n") {
            let trimmed = line.drop { $0 == " " || $0 == "\t" }
            if trimmed.hasPrefix("name:") {
                name = String(trimmed.dropFirst(5).drop { $0 == " " })
            } else if trimmed.hasPrefix("ID:") {
                id = UInt16(trimmed.dropFirst(3).drop { $0 == " " })
            } else if trimmed.hasPrefix("field:") {
                guard let field = Self.field(trimmed) else { return nil }
                fields[field.name] = field
            }
        }
        guard let id else { return nil }
        self.name = name
        self.id = id
        self.fields = fields
    }

    /// `field:TYPE NAME;	offset:N;	size:N;	signed:N;` (also `field: u64 timestamp;` of
    /// `events/header_page`, and array names such as `char comm[16]`).
    static func field(_ line: Substring) -> Field? {
        let parts = line.split(separator: ";").map { $0.trimmingASCIIWhitespace() }
        guard parts.count >= 3, parts[0].hasPrefix("field:") else { return nil }
        let declaration = parts[0].dropFirst(6).trimmingASCIIWhitespace()
        guard var name = declaration.split(separator: " ").last.map(String.init) else { return nil }
        if let bracket = name.firstIndex(of: "[") { name = String(name[..<bracket]) }
        var offset: Int?
        var size: Int?
        var isSigned = false
        for part in parts.dropFirst() {
            if part.hasPrefix("offset:") { offset = Int(part.dropFirst(7)) }
            if part.hasPrefix("size:") { size = Int(part.dropFirst(5)) }
            if part.hasPrefix("signed:") { isSigned = part.dropFirst(7) == "1" }
        }
        guard let offset, let size, offset >= 0, size > 0, !name.isEmpty else { return nil }
        let location: Field.Location =
            declaration.hasPrefix("__data_loc") ? .dataLoc : declaration.hasPrefix("__rel_loc") ? .relLoc : .inline
        return Field(name: name, offset: offset, size: size, isSigned: isSigned, location: location)
    }

    /// An integer field of the record (1, 2, 4 or 8 bytes, little-endian as the machine writes
    /// it), nil when the record is too short.
    public func integer(_ name: String, in record: UnsafeRawBufferPointer) -> UInt64? {
        guard let field = fields[name], field.location == .inline else { return nil }
        return Self.load(record, at: field.offset, size: field.size)
    }

    /// A string field of the record (`__string` in the event's definition), without its NUL.
    public func bytes(_ name: String, in record: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
        guard let field = fields[name] else { return nil }
        return bytes(of: field, in: record)
    }

    /// The bytes of `field` (one of this format's) in the record, without a trailing NUL.
    public func bytes(of field: Field, in record: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
        Self.bytes(at: field.slot, in: record)
    }

    /// Where a field is in a record, without its name: what a decoder keeps per event type.
    public struct Slot: Sendable, Equatable {
        public var offset: Int
        public var size: Int
        public var location: Field.Location
    }

    /// The bytes of the field at `slot` (a `__data_loc`/`__rel_loc` string's own bytes), NULs
    /// at the end cut; nil when the record is too short for it.
    public static func bytes(at slot: Slot, in record: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer? {
        switch slot.location {
        case .inline:
            guard slot.offset >= 0, slot.offset + slot.size <= record.count else { return nil }
            return trimmingNUL(UnsafeRawBufferPointer(rebasing: record[slot.offset..<(slot.offset + slot.size)]))
        case .dataLoc, .relLoc:
            guard let word = load(record, at: slot.offset, size: 4) else { return nil }
            var start = Int(word & 0xFFFF)
            let length = Int(word >> 16)
            if slot.location == .relLoc { start += slot.offset + 4 }
            guard start + length <= record.count else { return nil }
            return trimmingNUL(UnsafeRawBufferPointer(rebasing: record[start..<(start + length)]))
        }
    }

    public func string(_ name: String, in record: UnsafeRawBufferPointer) -> String? {
        bytes(name, in: record).map { String(decoding: $0, as: UTF8.self) }
    }

    private static func trimmingNUL(_ bytes: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        var end = bytes.count
        while end > 0, bytes[end - 1] == 0 { end -= 1 }
        return UnsafeRawBufferPointer(rebasing: bytes[0..<end])
    }

    static func load(_ record: UnsafeRawBufferPointer, at offset: Int, size: Int) -> UInt64? {
        guard offset >= 0, offset + size <= record.count else { return nil }
        switch size {
        case 1: return UInt64(record[offset])
        case 2: return UInt64(UInt16(littleEndian: record.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
        case 4: return UInt64(UInt32(littleEndian: record.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
        case 8: return UInt64(littleEndian: record.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
        default: return nil
        }
    }
}

/// One page of a per-CPU ring buffer as `per_cpu/cpuN/trace_pipe_raw` gives it, walked event by
/// event. Layout from include/linux/ring_buffer.h (`struct ring_buffer_event`, `enum
/// ring_buffer_type`) and kernel/trace/ring_buffer.c (`struct buffer_data_page`,
/// `rb_event_length()`, `rb_event_data()`, `RB_MISSED_EVENTS`/`RB_MISSED_STORED`), the same
/// rules libtraceevent's kbuffer reader follows:
///
/// - the page starts with the time stamp of its first event (u64) and `commit` (a `long`: the
///   bytes of events after the header; bit 31 says events were lost before this page, bit 30
///   that their count is stored as a `long` right after the events);
/// - each event starts with a 32-bit word, `type_len` in its low 5 bits and the time since the
///   previous event in the upper 27;
/// - `type_len` 1...28: a record of `type_len * 4` bytes follows; 0: the next word is the length
///   of that word and the record together, and the record follows it; 29: padding (a zero time
///   delta means the rest of the page; otherwise the next word is the length after the
///   header); 30: a time extension (the next word holds bits 27...58 of the delta); 31: an
///   absolute time stamp in the same form.
public struct TraceRingBufferPage {
    /// Where `commit` and the events are, from `events/header_page` (a `long` is 4 bytes on
    /// a 32-bit kernel).
    public struct Header: Sendable, Equatable {
        public var commitOffset = 8
        public var commitSize = 8
        public var dataOffset = 16

        public init() {}

        /// From the text of `events/header_page`; the 64-bit layout when it cannot be read.
        public init(text: String) {
            for line in text.split(separator: "\n") {
                guard let field = TraceEventFormat.field(line.drop { $0 == " " || $0 == "\t" }) else { continue }
                if field.name == "commit" {
                    commitOffset = field.offset
                    commitSize = field.size
                }
                if field.name == "data" { dataOffset = field.offset }
            }
        }
    }

    public static let missedEvents: UInt64 = 1 << 31
    public static let missedStored: UInt64 = 1 << 30
    /// `commit` without the flags (libtraceevent's `COMMIT_MASK`).
    public static let commitMask: UInt64 = (1 << 27) - 1

    /// What a page held besides its events.
    public struct Summary: Sendable, Equatable {
        public var events = 0
        /// Events the kernel overwrote before this page was read: nil when it only said some
        /// were (no count stored).
        public var missed: UInt64?
        public var lostSome = false
        /// An event that runs past the data, or a type the layout does not allow: the rest of
        /// the page is skipped and counted, never read as events.
        public var malformed = false
    }

    /// Calls `record` with each data record's time stamp (the trace clock, ns) and its bytes.
    @discardableResult
    public static func forEachRecord(
        in page: UnsafeRawBufferPointer, header: Header = Header(),
        _ record: (_ timestamp: UInt64, _ bytes: UnsafeRawBufferPointer) -> Void
    ) -> Summary {
        var summary = Summary()
        guard page.count >= header.dataOffset,
            var timestamp = TraceEventFormat.load(page, at: 0, size: 8),
            let commit = TraceEventFormat.load(page, at: header.commitOffset, size: header.commitSize)
        else {
            summary.malformed = true
            return summary
        }
        let length = Int(commit & commitMask)
        let data = header.dataOffset
        guard data + length <= page.count else {
            summary.malformed = true
            return summary
        }
        if commit & missedEvents != 0 {
            summary.lostSome = true
            if commit & missedStored != 0 {
                summary.missed = TraceEventFormat.load(page, at: data + length, size: header.commitSize)
            }
        }
        let end = data + length
        var at = data
        while at + 4 <= end {
            let word = UInt32(TraceEventFormat.load(page, at: at, size: 4)!)
            let typeLength = word & 0x1F
            let delta = UInt64(word >> 5)
            switch typeLength {
            case 29:
                // Padding: the rest of the page, or a discarded event of stated length.
                guard delta != 0 else { return summary }
                guard let size = TraceEventFormat.load(page, at: at + 4, size: 4) else {
                    summary.malformed = true
                    return summary
                }
                timestamp &+= delta
                at += 4 + Int(size)
            case 30, 31:
                guard let high = TraceEventFormat.load(page, at: at + 4, size: 4) else {
                    summary.malformed = true
                    return summary
                }
                let value = high << 27 | delta
                if typeLength == 30 {
                    timestamp &+= value
                } else {
                    // Absolute: 59 bits; the upper bits come from the page's time stamp
                    // (`rb_fix_abs_ts()`).
                    timestamp = value | (timestamp & ~((1 << 59) - 1))
                }
                at += 8
            default:
                var start = at + 4
                var size = Int(typeLength) * 4
                if typeLength == 0 {
                    guard let stated = TraceEventFormat.load(page, at: at + 4, size: 4), stated >= 4 else {
                        summary.malformed = true
                        return summary
                    }
                    size = Int(stated) - 4
                    start = at + 8
                }
                guard start + size <= end else {
                    summary.malformed = true
                    return summary
                }
                timestamp &+= delta
                summary.events += 1
                record(timestamp, UnsafeRawBufferPointer(rebasing: page[start..<(start + size)]))
                at = start + ((size + 3) & ~3)
            }
        }
        return summary
    }
}
