import CorralCore

/// Interrupt storms caught by kernel/irq/spurious.c `note_interrupt()` (reference §7):
/// `irq 16: nobody cared (try booting with the "irqpoll" option)` then, after the stack and
/// handler list, `Disabling IRQ #16` — one storm, which the kernel has already disabled.
/// A `Disabling IRQ #N` whose `nobody cared` line is missing (a truncated paste) is still a storm.
enum IRQStormLog: LogEventFamily {
    static let irq: StaticString = "irq "
    static let nobodyCared: StaticString = ": nobody cared"
    static let disabling: StaticString = "Disabling IRQ #"

    /// The gate: `irq ` or `Disabling IRQ #` at the start.
    static func mayTake(_ message: KernelMessage) -> Bool {
        message.text.starts(with: irq) || message.text.starts(with: disabling)
    }

    /// Anchored at the start of the message: `__report_bad_irq()` prints
    /// `printk(KERN_ERR "irq %d: nobody cared (try booting with ...)\n")` and `note_interrupt()`
    /// `printk(KERN_EMERG "Disabling IRQ #%d\n")`, with no prefix (kernel/irq/spurious.c).
    static func recognize(_ message: KernelMessage, _ context: inout FamilyContext) -> FamilyMatch {
        let text = message.text
        guard text.starts(with: irq) || text.starts(with: disabling) else { return .notMine }
        if let at = text.find(nobodyCared) {
            // `irq N` just before.
            var start = at
            while start > text.startIndex, text[start - 1].isDigit { start -= 1 }
            guard start < at, text[text.startIndex..<start].ends(with: irq),
                let number = text.decimalNumber(at: start), number.value <= UInt64(UInt32.max)
            else { return .malformed("'nobody cared' without an IRQ number") }
            context.lastNobodyCared = UInt32(number.value)
            var event = context.event(.irqStorm)
            event.irq = IRQNumber(UInt32(number.value))
            event.reasonText = "nobody cared; disabled by the kernel"
            return .event(event, nil)
        }
        if text.starts(with: disabling) {
            let at = text.startIndex
            guard let number = text.decimalNumber(at: at + disabling.count), number.value <= UInt64(UInt32.max) else {
                return .malformed("'Disabling IRQ #' without a number")
            }
            if context.lastNobodyCared == UInt32(number.value) { return .noEvent }
            var event = context.event(.irqStorm)
            event.irq = IRQNumber(UInt32(number.value))
            event.reasonText = "disabled by the kernel (its 'nobody cared' report is not in the log)"
            return .event(event, nil)
        }
        return .notMine
    }
}

/// printk rate limiting, `___ratelimit()` in lib/ratelimit.c: `dmar_fault: 2474 callbacks suppressed`.
/// What the kernel dropped is counted; `vendor(ofFunction:)` says whose messages they were
/// (the schema keeps `vendor` for IOMMU classes, so it is not set on the event).
enum RateLimitLog: LogEventFamily {
    static let suppressed: StaticString = " callbacks suppressed"

    /// The gate: `name: ` then a digit (the search for the phrase is the costly part).
    static func mayTake(_ message: KernelMessage) -> Bool {
        // The first token's end found by index (every message passes here: no slice made).
        let text = message.text
        let afterName = text.wordEnd(from: text.startIndex)
        guard afterName > text.startIndex, text[afterName - 1] == 0x3A else { return false }
        let next = text.skippingBlanks(from: afterName)
        return next < text.endIndex && text[next].isDigit
    }

    /// Anchored at the start of the message: `___ratelimit()` prints `"%s: %d callbacks
    /// suppressed\n"` with the rate-limited function's name and nothing before it
    /// (lib/ratelimit.c); the name is one token.
    static func recognize(_ message: KernelMessage, _ context: inout FamilyContext) -> FamilyMatch {
        let text = message.text
        guard let at = text.find(suppressed) else { return .notMine }
        let (name, afterName) = text.token(at: text.startIndex)
        guard name.last == 0x3A, name.count > 1, text.skippingBlanks(from: afterName) < at,
            text[text.skippingBlanks(from: afterName)..<at].allSatisfy(\.isDigit)
        else { return .notMine }
        var start = at
        while start > text.startIndex, text[start - 1].isDigit { start -= 1 }
        guard start < at, let count = text.decimalNumber(at: start) else {
            return .malformed("'callbacks suppressed' without a count")
        }
        var event = context.event(.suppressed)
        event.count = count.value
        // `function: N callbacks suppressed`.
        let head = text[text.startIndex..<start].trimmed
        if head.last == 0x3A {
            let name = head.dropLast()
            var nameStart = name.endIndex
            while nameStart > name.startIndex, !name[nameStart - 1].isBlank { nameStart -= 1 }
            let function = name[nameStart...].string
            event.function = function
        }
        return .event(event, nil)
    }

    static func vendor(ofFunction name: String) -> IOMMUVendor? {
        if name.hasPrefix("dmar") || name.hasPrefix("intel_") { return .intelVTd }
        if name.hasPrefix("amd_iommu") { return .amdVi }
        if name.hasPrefix("arm_smmu_evtq") || name.hasPrefix("arm_smmu_priq") { return .armSMMUv3 }
        if name.hasPrefix("arm_smmu") { return .armSMMU }
        return nil
    }
}
