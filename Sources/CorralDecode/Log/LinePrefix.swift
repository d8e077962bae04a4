import CorralCore

/// One physical line split into its prefix (timestamp, host, facility, caller) and the kernel
/// message. Recognises every prefix of `LogFormat`, after stripping e-mail quote markers (`> `).
struct PrefixedLine {
    var message: ByteText
    var time: LogTime?
    var format: LogFormat
    /// A syslog line from a program other than the kernel (`systemd[1]: ...`).
    var fromKernel = true
    /// The line carried `> ` quote markers.
    var quoted = false
    /// `/dev/kmsg` dictionary line (` SUBSYSTEM=pci`).
    var isDictionary = false

    var hasPrefix: Bool { format != .bare }
}

/// Where `LinePrefix.parse` writes a line it had to rewrite (escape sequences dropped, a JSON
/// or `/dev/kmsg` escape decoded): the message it returns may be a view of these, valid until
/// the next parse with the same scratch.
struct LineScratch {
    var escapes = TextStorage()
    var decoded = TextStorage()
    /// Whether the lines being fed may hold an escape byte: false while a block known to
    /// have none is read (`LineBlock.hints`), so that no line is searched for one.
    var mayHoldEscapes = true
}

enum LinePrefix {
    /// Splits `line`; `forced` restricts recognition to one format.
    static func parse(_ raw: ByteText, forced: LogFormat? = nil, scratch: inout LineScratch) -> PrefixedLine {
        // `dmesg --color=always` and terminal captures: drop ANSI escape sequences first.
        var line =
            scratch.mayHoldEscapes && raw.contains(byte: 0x1B)
            ? stripEscapes(raw, into: TextStorage.unique(&scratch.escapes)) : raw
        if let last = line.last, last == 0x0D { line = line.dropLast() }
        var quoted = false
        // E-mail quoting: any run of '>' with optional blanks.
        var index = line.startIndex
        while index < line.endIndex, line[index] == 0x3E {
            quoted = true
            index = line.skippingBlanks(from: index + 1)
        }
        let leadingBlanks = index < line.endIndex && line[index].isBlank
        index = line.skippingBlanks(from: index)
        let body = line[index...]

        func result(_ message: ByteText, _ time: LogTime?, _ format: LogFormat, kernel: Bool = true) -> PrefixedLine {
            var parsed = PrefixedLine(message: message, time: time, format: format)
            parsed.fromKernel = kernel
            parsed.quoted = quoted
            return parsed
        }

        // A dmesg line, most of any log: no other format starts with `[` (kmsg, RFC 3339 and
        // level prefixes start with a digit, `<` or a letter), so its stamp is tried first.
        if body.first == 0x5B, forced == nil || forced == .dmesg, let (message, time) = dmesgStamp(body) {
            return result(message, time, .dmesg)
        }
        if forced == nil || forced == .journalJSON, body.first == 0x7B,
            let (message, time, kernel) = journalJSON(body, into: TextStorage.unique(&scratch.decoded))
        {
            return result(message, time, .journalJSON, kernel: kernel)
        }
        if forced == nil || forced == .kmsg {
            if leadingBlanks, isDictionaryLine(body) {
                var parsed = result(body, nil, .bare)
                parsed.isDictionary = true
                return parsed
            }
            // Only facility 0 is the kernel: any root process can write user-facility records into
            // /dev/kmsg, and a forged "DMAR: ..." line must never be taken for the kernel's.
            if let (message, time, facility) = kmsg(body, into: TextStorage.unique(&scratch.decoded)) {
                return result(message, time, .kmsg, kernel: facility == 0)
            }
        }
        if forced == nil || forced == .rfc3339, let (rest, time) = rfc3339(body) {
            let (message, kernel) = afterSyslogStamp(rest)
            let (inner, boot) = innerDmesgStamp(message)
            return result(inner, boot ?? time, .rfc3339, kernel: kernel)
        }
        if forced == nil || forced == .dmesg || forced == .dmesgWallClock {
            var rest = body
            if let level = levelPrefix(rest) { rest = level }
            if forced != .dmesgWallClock, let (message, time) = dmesgStamp(rest) {
                return result(message, time, .dmesg)
            }
            if forced != .dmesg, let (message, time) = dmesgWallClock(rest) {
                return result(callerID(message), time, .dmesgWallClock)
            }
        }
        if forced == nil || forced == .syslog, let (rest, time) = bsdSyslog(body) {
            let (message, kernel) = afterSyslogStamp(rest)
            let (inner, boot) = innerDmesgStamp(message)
            return result(inner, boot ?? time, .syslog, kernel: kernel)
        }
        if forced == nil || forced == .dmesg {
            // `kernel: [  13.134460] msg` (journalctl -o cat of a syslog-forwarded dmesg, grep output).
            if body.starts(with: Pattern.kernelColon) {
                let rest = body[body.skippingBlanks(from: body.startIndex + Pattern.kernelColon.count)...]
                if let (message, time) = dmesgStamp(rest) { return result(message, time, .dmesg) }
                return result(rest, nil, .syslog)
            }
            // A log viewer's offset column before the kernel's line (Qualcomm tool exports
            // pasted into bug reports: `0x000000000277BBFA |   1263.468579:   arm-smmu ...`).
            if let (message, time) = offsetColumn(body) { return result(message, time, .dmesg) }
            // ftrace output (`irq/26-aerdrv-47 [000] ..... 3.865734: aer_event: ...`) is a
            // second view of events the kernel also logs: not parsed as log lines.
            if isTraceLine(body) { return result(body, nil, .bare, kernel: false) }
            // Junk before a dmesg stamp (a shell prompt pasted with the output).
            if let stamp = body.prefix(96).find(Pattern.openBracket), stamp > body.startIndex,
                let (message, time) = dmesgStamp(body[stamp...])
            {
                return result(message, time, .dmesg)
            }
        }
        return result(body, nil, .bare)
    }

    // MARK: - Escapes and journald JSON

    /// Removes ANSI escape sequences (CSI `ESC [ ... final`, and two-byte `ESC x`).
    static func stripEscapes(_ text: ByteText, into storage: TextStorage) -> ByteText {
        var out: [UInt8] = []
        out.reserveCapacity(text.count)
        var index = text.startIndex
        while index < text.endIndex {
            if text[index] == 0x1B {
                index += 1
                if index < text.endIndex, text[index] == 0x5B {
                    index += 1
                    while index < text.endIndex, !(0x40...0x7E).contains(text[index]) { index += 1 }
                }
                index += 1
                continue
            }
            out.append(text[index])
            index += 1
        }
        storage.set(out)
        return storage.text
    }

    static let messageKey: StaticString = "\"MESSAGE\":"
    static let monotonicKeys: [StaticString] = [
        "\"_SOURCE_MONOTONIC_TIMESTAMP\":", "\"__MONOTONIC_TIMESTAMP\":",
    ]
    static let transportKey: StaticString = "\"_TRANSPORT\":"
    static let kernelValue: StaticString = "\"kernel\""

    /// One `journalctl -o json` object: MESSAGE (a JSON string), the monotonic timestamp in
    /// microseconds, and whether `_TRANSPORT` is the kernel.
    static func journalJSON(_ text: ByteText, into storage: TextStorage) -> (ByteText, LogTime?, Bool)? {
        guard let key = text.find(messageKey) else { return nil }
        var index = text.skippingBlanks(from: key + messageKey.count)
        guard index < text.endIndex, text[index] == 0x22 else { return nil }
        index += 1
        var message: [UInt8] = []
        while index < text.endIndex, text[index] != 0x22 {
            if text[index] == 0x5C, index + 1 < text.endIndex {
                index += 1
                switch text[index] {
                case 0x6E: message.append(0x0A)
                case 0x74: message.append(0x09)
                case 0x72: break
                case 0x75:
                    // \uXXXX: keep ASCII, replace the rest (kernel messages are ASCII).
                    if let code = text.hexNumber(at: index + 1, allowPrefix: false), code.end - index - 1 >= 4 {
                        message.append(code.value < 0x80 ? UInt8(code.value) : 0x3F)
                        index += 4
                    }
                default: message.append(text[index])
                }
            } else {
                message.append(text[index])
            }
            index += 1
        }
        var time: LogTime?
        for timeKey in monotonicKeys {
            guard let at = text.find(timeKey) else { continue }
            var start = text.skippingBlanks(from: at + timeKey.count)
            if start < text.endIndex, text[start] == 0x22 { start += 1 }
            if let micros = text.decimalNumber(at: start), micros.value < UInt64(Int64.max / 1000) {
                time = LogTime(clock: .sinceBoot, nanoseconds: Int64(micros.value) * 1000)
                break
            }
        }
        var kernel = true
        if let at = text.find(transportKey) {
            kernel = text.matches(kernelValue, at: text.skippingBlanks(from: at + transportKey.count))
        }
        storage.set(message)
        return (storage.text, time, kernel)
    }

    // MARK: - ftrace

    /// `<comm>-<pid> [<cpu>] <flags> <seconds>.<micros>: <event>:` (trace_pipe / trace output).
    /// `0x<hex> | <seconds>.<fraction>: <message>`, or the column before a `[ s.us]` stamp: the
    /// column is dropped and the stamp read on the boot clock. Without it such a log read as
    /// one wrapped record with no event in it (its lines have no prefix Corral knew).
    static func offsetColumn(_ text: ByteText) -> (ByteText, LogTime)? {
        guard text.count > 8, text[text.startIndex] == 0x30, text[text.startIndex + 1] | 0x20 == 0x78,
            let offset = text.hexNumber(at: text.startIndex + 2, allowPrefix: false),
            offset.end - text.startIndex >= 6
        else { return nil }
        let bar = text.skippingBlanks(from: offset.end)
        guard bar < text.endIndex, text[bar] == 0x7C else { return nil }
        let rest = text[text.skippingBlanks(from: bar + 1)...]
        if let stamped = dmesgStamp(rest) { return stamped }
        // `seconds.fraction:` without brackets.
        guard let seconds = rest.decimalNumber(at: rest.startIndex), seconds.value < 1 << 32,
            seconds.end < rest.endIndex, rest[seconds.end] == 0x2E,
            let fraction = rest.decimalNumber(at: seconds.end + 1), fraction.end < rest.endIndex,
            rest[fraction.end] == 0x3A
        else { return nil }
        let digits = fraction.end - seconds.end - 1
        guard digits >= 1, digits <= 9 else { return nil }
        var nanos = Int64(fraction.value)
        for _ in digits..<9 { nanos *= 10 }
        let time = LogTime(clock: .sinceBoot, nanoseconds: Int64(seconds.value) * 1_000_000_000 + nanos)
        return (rest[rest.skippingBlanks(from: fraction.end + 1)...], time)
    }

    static func isTraceLine(_ text: ByteText) -> Bool {
        let (task, afterTask) = text.token(at: text.startIndex)
        guard let dash = task.lastIndex(of: 0x2D), dash + 1 < task.endIndex,
            task[(dash + 1)...].allSatisfy(\.isDigit)
        else { return false }
        let cpuStart = text.skippingBlanks(from: afterTask)
        guard text.matches(Pattern.openBracket, at: cpuStart), let cpu = text.decimalNumber(at: cpuStart + 1),
            text.matches(Pattern.closeBracket, at: cpu.end)
        else { return false }
        var index = text.skippingBlanks(from: cpu.end + 1)
        for _ in 0..<2 {
            let (word, end) = text.token(at: index)
            if let seconds = word.decimalNumber(at: word.startIndex), seconds.end < word.endIndex,
                word[seconds.end] == 0x2E, word.last == 0x3A
            {
                return true
            }
            index = text.skippingBlanks(from: end)
        }
        return false
    }

    // MARK: - /dev/kmsg

    /// `prio,seq,usec,flags;message` (Documentation/ABI/testing/dev-kmsg).
    static func kmsg(_ text: ByteText, into storage: TextStorage) -> (ByteText, LogTime, UInt64)? {
        guard let prio = text.decimalNumber(at: text.startIndex), prio.end < text.endIndex, text[prio.end] == 0x2C,
            let seq = text.decimalNumber(at: prio.end + 1), seq.end < text.endIndex, text[seq.end] == 0x2C,
            let usec = text.decimalNumber(at: seq.end + 1), usec.end < text.endIndex, text[usec.end] == 0x2C
        else { return nil }
        var index = usec.end + 1
        while index < text.endIndex, index - usec.end < 16, text[index] != 0x3B { index += 1 }
        guard index < text.endIndex, text[index] == 0x3B, usec.value < UInt64(Int64.max / 1000) else { return nil }
        return (
            unescapeKmsg(text[(index + 1)...], into: storage),
            LogTime(clock: .sinceBoot, nanoseconds: Int64(usec.value) * 1000),
            prio.value >> 3
        )
    }

    /// `/dev/kmsg` writes every byte below 0x20 (newline aside), above 0x7e, and the backslash
    /// itself as `\xHH` (Documentation/ABI/testing/dev-kmsg). SMMUv3 prints its event dwords
    /// after a tab, which arrives as `\x09` — seen on a real arm64 6.1 guest, where the record
    /// was otherwise never assembled and its stream ID lost.
    static func unescapeKmsg(_ text: ByteText, into storage: TextStorage) -> ByteText {
        guard text.contains(0x5C) else { return text }
        func hex(_ byte: UInt8) -> UInt8? {
            switch byte {
            case 0x30...0x39: byte - 0x30
            case 0x61...0x66: byte - 0x61 + 10
            case 0x41...0x46: byte - 0x41 + 10
            default: nil
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(text.count)
        var index = text.startIndex
        while index < text.endIndex {
            if text[index] == 0x5C, index + 3 < text.endIndex, text[index + 1] == 0x78,
                let high = hex(text[index + 2]), let low = hex(text[index + 3])
            {
                out.append(high << 4 | low)
                index += 4
            } else {
                out.append(text[index])
                index += 1
            }
        }
        storage.set(out)
        return storage.text
    }

    /// ` KEY=value` continuation of a kmsg record.
    static func isDictionaryLine(_ text: ByteText) -> Bool {
        var index = text.startIndex
        while index < text.endIndex, text[index].isUpper || text[index].isDigit || text[index] == 0x5F { index += 1 }
        return index > text.startIndex && index < text.endIndex && text[index] == 0x3D
    }

    // MARK: - dmesg

    /// `<3>` (dmesg -r) or `kern  :err   : ` (dmesg -x) before the timestamp.
    static func levelPrefix(_ text: ByteText) -> ByteText? {
        if text.first == 0x3C, let level = text.decimalNumber(at: text.startIndex + 1), level.end < text.endIndex,
            text[level.end] == 0x3E
        {
            return text[text.skippingBlanks(from: level.end + 1)...]
        }
        // facility ':' level ':'
        var index = text.startIndex
        for _ in 0..<2 {
            let word = index
            while index < text.endIndex, text[index].isLower { index += 1 }
            guard index > word, index - word <= 8 else { return nil }
            index = text.skippingBlanks(from: index)
            guard index < text.endIndex, text[index] == 0x3A else { return nil }
            index = text.skippingBlanks(from: index + 1)
        }
        return text[index...]
    }

    /// `[  12.345678] ` → seconds since boot; then an optional caller ID.
    static func dmesgStamp(_ text: ByteText) -> (ByteText, LogTime)? {
        guard text.first == 0x5B else { return nil }
        let index = text.skippingBlanks(from: text.startIndex + 1)
        guard let seconds = text.decimalNumber(at: index), seconds.end < text.endIndex, text[seconds.end] == 0x2E,
            let fraction = text.decimalNumber(at: seconds.end + 1), fraction.end < text.endIndex,
            text[fraction.end] == 0x5D, seconds.value < 1 << 32
        else { return nil }
        let digits = fraction.end - seconds.end - 1
        guard digits <= 9 else { return nil }
        var nanos = Int64(fraction.value)
        for _ in digits..<9 { nanos *= 10 }
        let time = LogTime(clock: .sinceBoot, nanoseconds: Int64(seconds.value) * 1_000_000_000 + nanos)
        var message = text[text.skippingBlanks(from: fraction.end + 1)...]
        message = callerID(message)
        message = syslogAfterBootStamp(message)
        return (message, time)
    }

    /// `[    T140] ` / `[  C3] ` (printk caller ID), or the Android/HiSilicon/Qualcomm vendor
    /// kernels' task prefix `[pid:123,cpu2,kworker/2:1]` (glued to the message or not).
    static func callerID(_ text: ByteText) -> ByteText {
        guard text.first == 0x5B else { return text }
        if text.matches(vendorTaskPrefix, at: text.startIndex + 1),
            let close = text[text.startIndex..<min(text.endIndex, text.startIndex + 80)].firstIndex(of: 0x5D)
        {
            return text[text.skippingBlanks(from: close + 1)...]
        }
        let index = text.skippingBlanks(from: text.startIndex + 1)
        guard index < text.endIndex, text[index] == 0x54 || text[index] == 0x43,
            let id = text.decimalNumber(at: index + 1), id.end < text.endIndex, text[id.end] == 0x5D
        else { return text }
        return text[text.skippingBlanks(from: id.end + 1)...]
    }

    static let vendorTaskPrefix: StaticString = "pid:"

    /// journalctl -o short-monotonic: `[  12.345678] host kernel: msg`.
    static func syslogAfterBootStamp(_ text: ByteText) -> ByteText {
        // The first word's end found by index: every dmesg line passes here, no slice made.
        let afterFirst = text.wordEnd(from: text.startIndex)
        guard afterFirst > text.startIndex, text[afterFirst - 1] != 0x3A else { return text }
        let secondStart = text.skippingBlanks(from: afterFirst)
        if text.matches(Pattern.kernelColon, at: secondStart) {
            return text[text.skippingBlanks(from: secondStart + Pattern.kernelColon.count)...]
        }
        return text
    }

    /// The `[ s.us]` a syslog line may carry after `kernel:`; the boot clock is finer than syslog's.
    static func innerDmesgStamp(_ text: ByteText) -> (ByteText, LogTime?) {
        if let (message, time) = dmesgStamp(text) { return (message, time) }
        return (callerID(text), nil)
    }

    /// `[Www Mmm DD HH:MM:SS YYYY] `.
    static func dmesgWallClock(_ text: ByteText) -> (ByteText, LogTime)? {
        guard text.first == 0x5B, let close = text.prefix(48).find(Pattern.closeBracket) else { return nil }
        let inside = text[(text.startIndex + 1)..<close]
        let (_, afterWeekday) = inside.token(at: inside.startIndex)
        let monthStart = inside.skippingBlanks(from: afterWeekday)
        guard let (rest, time) = bsdSyslog(inside[monthStart...]) else { return nil }
        let yearText = rest.trimmed
        guard let year = yearText.decimalNumber(at: yearText.startIndex), year.end == yearText.endIndex,
            year.value < 10_000
        else { return nil }
        let nanos = time.nanoseconds + yearOffset(year.value) * 372 * 86_400 * 1_000_000_000
        return (text[text.skippingBlanks(from: close + 1)...], LogTime(clock: .wallClock, nanoseconds: nanos))
    }

    // MARK: - syslog

    /// `Mmm DD HH:MM:SS ` with a month name in any language (letters or UTF-8, optional '.').
    static func bsdSyslog(_ text: ByteText) -> (ByteText, LogTime)? {
        var index = text.startIndex
        while index < text.endIndex, text[index].isLetter || text[index] >= 0x80 || text[index] == 0x2E {
            index += 1
        }
        let monthName = text[text.startIndex..<index]
        guard monthName.count >= 3, monthName.count <= 16, index < text.endIndex, text[index].isBlank else {
            return nil
        }
        index = text.skippingBlanks(from: index)
        guard let day = text.decimalNumber(at: index), day.value >= 1, day.value <= 31, day.end < text.endIndex,
            text[day.end].isBlank
        else { return nil }
        index = text.skippingBlanks(from: day.end)
        guard let (seconds, end) = clockTime(text, at: index) else { return nil }
        let month = MonthNames.number(monthName) ?? 0
        let dayIndex = Int64(month) * 32 + Int64(day.value)
        let nanos = (dayIndex * 86_400 + seconds.0) * 1_000_000_000 + seconds.1
        return (text[text.skippingBlanks(from: end)...], LogTime(clock: .wallClock, nanoseconds: nanos))
    }

    /// `HH:MM:SS[.frac]` → (seconds, nanoseconds), end index.
    static func clockTime(_ text: ByteText, at: Int) -> ((Int64, Int64), Int)? {
        guard let hours = text.decimalNumber(at: at), hours.value < 24, hours.end < text.endIndex,
            text[hours.end] == 0x3A,
            let minutes = text.decimalNumber(at: hours.end + 1), minutes.value < 60, minutes.end < text.endIndex,
            text[minutes.end] == 0x3A,
            let seconds = text.decimalNumber(at: minutes.end + 1), seconds.value < 61
        else { return nil }
        var end = seconds.end
        var nanos: Int64 = 0
        if end < text.endIndex, text[end] == 0x2E || text[end] == 0x2C, let fraction = text.decimalNumber(at: end + 1) {
            let digits = fraction.end - end - 1
            if digits <= 9 {
                nanos = Int64(fraction.value)
                for _ in digits..<9 { nanos *= 10 }
            }
            end = fraction.end
        }
        let total = Int64(hours.value) * 3600 + Int64(minutes.value) * 60 + Int64(seconds.value)
        return ((total, nanos), end)
    }

    /// `YYYY-MM-DDTHH:MM:SS[.frac][Z|±HH:MM|±HHMM] `.
    static func rfc3339(_ text: ByteText) -> (ByteText, LogTime)? {
        guard let year = text.decimalNumber(at: text.startIndex), year.end - text.startIndex == 4,
            year.end < text.endIndex, text[year.end] == 0x2D,
            let month = text.decimalNumber(at: year.end + 1), month.value >= 1, month.value <= 12,
            month.end < text.endIndex, text[month.end] == 0x2D,
            let day = text.decimalNumber(at: month.end + 1), day.value >= 1, day.value <= 31,
            day.end < text.endIndex, text[day.end] == 0x54 || text[day.end] == 0x20,
            let ((seconds, nanos), end) = clockTime(text, at: day.end + 1)
        else { return nil }
        var index = end
        if index < text.endIndex, text[index] == 0x5A {
            index += 1
        } else if index < text.endIndex, text[index] == 0x2B || text[index] == 0x2D {
            index += 1
            while index < text.endIndex, text[index].isDigit || text[index] == 0x3A { index += 1 }
        }
        guard index == text.endIndex || text[index].isBlank else { return nil }
        let days = (yearOffset(year.value) * 12 + Int64(month.value)) * 32 + Int64(day.value)
        let time = LogTime(clock: .wallClock, nanoseconds: (days * 86_400 + seconds) * 1_000_000_000 + nanos)
        return (text[text.skippingBlanks(from: index)...], time)
    }

    /// Years since 1970 (0 outside 1970–2199), keeping wall-clock nanoseconds inside Int64.
    static func yearOffset(_ year: UInt64) -> Int64 {
        (1970..<2200).contains(year) ? Int64(year) - 1970 : 0
    }

    /// After a syslog stamp: `[host] kernel: msg` → (msg, true); `[host] prog[pid]: msg` →
    /// (msg, false). `dmesg --time-format iso` puts the message right after the stamp
    /// (`... DMAR: [DMA Read] ...`, `... pcieport 0000:00:1c.5: AER: ...`): those stay kernel
    /// messages, told apart from `host prog:` by the device name a dev_printk carries.
    static func afterSyslogStamp(_ text: ByteText) -> (ByteText, Bool) {
        let (first, afterFirst) = text.token(at: text.startIndex)
        if first.equals(Pattern.kernelColon) { return (text[text.skippingBlanks(from: afterFirst)...], true) }
        if first.last == 0x3A {
            // `prog[pid]:` right after the stamp (no host) is another program; `DMAR:` is the kernel's.
            return first.contains(Pattern.openBracket)
                ? (text[text.skippingBlanks(from: afterFirst)...], false) : (text, true)
        }
        let secondStart = text.skippingBlanks(from: afterFirst)
        let (second, afterSecond) = text.token(at: secondStart)
        if second.equals(Pattern.kernelColon) { return (text[text.skippingBlanks(from: afterSecond)...], true) }
        guard second.count >= 2, second.last == 0x3A else { return (text, true) }
        let name = second.dropLast()
        let isDeviceName =
            name.pciAddress(at: name.startIndex) != nil || name.contains(byte: 0x2E)
            || name.last.map { $0.isDigit } == true && !name.contains(Pattern.openBracket)
        if isDeviceName { return (text, true) }
        return (text[text.skippingBlanks(from: afterSecond)...], false)
    }
}

/// Month abbreviations and names in the languages syslog is commonly localized to, lowercased.
/// Unknown names still parse (the month counts as 0): only time differences matter to replay.
enum MonthNames {
    static let table: [[String]] = [
        ["jan", "janv", "ene", "gen", "sty", "led", "янв", "січ", "jän", "tammi", "ocak"],
        ["feb", "févr", "fév", "fev", "lut", "úno", "фев", "лют", "helmi", "şub"],
        ["mar", "mars", "mär", "maa", "bře", "мар", "бер", "maalis"],
        ["apr", "avr", "abr", "kwi", "dub", "апр", "кві", "huhti", "nis"],
        ["may", "mai", "mei", "mag", "maj", "may", "kvě", "май", "мая", "тра", "touko"],
        ["jun", "juin", "giu", "cze", "čvn", "июн", "чер", "kesä", "haz"],
        ["jul", "juil", "lug", "lip", "čvc", "июл", "лип", "heinä", "tem"],
        ["aug", "août", "ago", "sie", "srp", "авг", "сер", "elo", "ağu"],
        ["sep", "sept", "set", "wrz", "zář", "сен", "вер", "syys", "eyl"],
        ["oct", "okt", "out", "ott", "paź", "říj", "окт", "жов", "loka", "eki"],
        ["nov", "lis", "noi", "ноя", "лис", "marras", "kas"],
        ["dec", "déc", "dez", "dic", "gru", "pro", "дек", "гру", "joulu", "ara"],
    ]

    /// English abbreviations, lowercased, for the fast path (no String per line).
    static let english: [StaticString] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ]

    static func number(_ name: ByteText) -> Int? {
        if name.count == 3, name.allSatisfy(\.isLetter) {
            // Compared in place, lowercased byte by byte: no array per syslog line.
            for (index, month) in english.enumerated() {
                let same = month.withUTF8Buffer { month in
                    zip(month, name).allSatisfy { $0 == $1 | 0x20 }
                }
                if same { return index + 1 }
            }
        }
        var text = name.string.lowercased()
        if text.hasSuffix(".") { text.removeLast() }
        for (month, names) in table.enumerated() where names.contains(text) { return month + 1 }
        for (month, names) in table.enumerated() {
            for candidate in names where text.hasPrefix(candidate) { return month + 1 }
        }
        return nil
    }
}
