import CorralCore
import CorralDecode
import Foundation

/// The human summary of `corral decode`: what each device did, then where every line went.
struct DecodeReport {
    static let listedByDefault = 20

    let listAll: Bool
    private var listed: [LogEvent] = []
    private var unlisted = 0
    private var perSubject: [Subject: [Int]] = [:]
    private var subjectOrder: [Subject] = []

    /// Who an event is about, cheap to hash (names are built once, when rendering).
    enum Subject: Hashable {
        case device(PCIAddress)
        case stream(IOMMUInstance, StreamID?)
        case bareStream(StreamID)
        case irq(IRQNumber)
        case rateLimiting
        case unnamed(IOMMUVendor?)

        init(_ event: LogEvent) {
            if let device = event.device {
                self = .device(device)
            } else if let iommu = event.iommu {
                self = .stream(iommu, event.streamID)
            } else if let streamID = event.streamID {
                self = .bareStream(streamID)
            } else if let irq = event.irq {
                self = .irq(irq)
            } else if event.kind == .suppressed {
                self = .rateLimiting
            } else {
                self = .unnamed(event.vendor)
            }
        }

        var name: String {
            switch self {
            case .device(let device): device.description
            case .stream(let iommu, let stream): stream.map { "\(iommu) sid \($0)" } ?? "\(iommu)"
            case .bareStream(let stream): "sid \(stream)"
            case .irq(let irq): "irq \(irq)"
            case .rateLimiting: "(kernel rate limiting)"
            case .unnamed(let vendor): vendor.map { "(\($0), no device named)" } ?? "(no device named)"
            }
        }
    }

    static let kinds = LogEvent.Kind.allCases

    init(listAll: Bool) { self.listAll = listAll }

    mutating func add(_ event: LogEvent) {
        if listAll || listed.count < Self.listedByDefault {
            listed.append(event)
        } else {
            unlisted += 1
        }
        let subject = Subject(event)
        if perSubject[subject] == nil {
            subjectOrder.append(subject)
            perSubject[subject] = [Int](repeating: 0, count: Self.kinds.count)
        }
        perSubject[subject]?[Self.kinds.firstIndex(of: event.kind) ?? 0] += 1
    }

    /// Who an event is about, for the per-device table.
    static func subject(_ event: LogEvent) -> String { Subject(event).name }

    /// One event as a line of text.
    static func line(_ event: LogEvent) -> String {
        var parts: [String] = [event.kind.rawValue]
        if let vendor = event.vendor { parts.append(vendor.rawValue) }
        parts.append(subject(event))
        if let access = event.access { parts.append(access.rawValue) }
        if let address = event.address { parts.append(address.description) }
        if let severity = event.severity { parts.append(severity.rawValue) }
        if let reason = event.reason { parts.append("reason 0x" + Hex.string(reason)) }
        if let count = event.count { parts.append("\(Count.grouped(count)) messages dropped") }
        if let change = event.slotChange { parts.append(change.rawValue) }
        if let text = event.reasonText { parts.append("— " + text) }
        return parts.joined(separator: "  ")
    }

    func render(source: String, statistics: LogStatistics, overlong: Int, conversions: [String] = []) -> String {
        var out: [String] = []
        let eventCount = statistics.eventCount
        out.append(
            "\(source): \(Count.grouped(statistics.lines)) lines, \(Count.grouped(eventCount)) device event\(eventCount == 1 ? "" : "s")"
                + (statistics.formats.isEmpty ? "" : "; format " + formats(statistics)))
        if !conversions.isEmpty { out.append("Read as: " + conversions.joined(separator: "; ") + ".") }
        if eventCount == 0 {
            out.append("No device events found.")
        } else {
            out.append("")
            out.append("By device:")
            let width = subjectOrder.map(\.name.count).max() ?? 0
            for subject in subjectOrder {
                let tally = perSubject[subject] ?? []
                let counts = Self.kinds.enumerated().compactMap { index, kind in
                    index < tally.count && tally[index] > 0 ? "\(Count.grouped(tally[index])) \(kind)" : nil
                }
                out.append(
                    "  " + subject.name.padding(toLength: width, withPad: " ", startingAt: 0) + "  "
                        + counts.joined(separator: ", "))
            }
            out.append("")
            out.append(
                listAll
                    ? "Events:"
                    : "Events (first \(min(listed.count, Self.listedByDefault)); --events lists all, --json for scripts):"
            )
            for event in listed {
                let time = event.time.map { "\($0)" } ?? "-"
                out.append("  line \(event.line)  \(time)  " + Self.line(event))
            }
            if unlisted > 0 { out.append("  ... \(Count.grouped(unlisted)) more") }
        }
        if statistics.suppressedMessages > 0 {
            out.append("")
            out.append(
                "The kernel's rate limiting dropped \(Count.grouped(statistics.suppressedMessages)) messages: the counts above are lower bounds."
            )
        }
        out.append("")
        var accounting =
            "Lines: \(Count.grouped(statistics.recordsInEvents)) records in events, "
            + "\(Count.grouped(statistics.knownWithoutEvent)) known without an event, "
            + "\(Count.grouped(statistics.skipped)) skipped (not device events)"
        if statistics.nonKernel > 0 { accounting += ", \(Count.grouped(statistics.nonKernel)) from other programs" }
        if statistics.repairedRecords > 0 { accounting += ", \(Count.grouped(statistics.repairedRecords)) repaired" }
        if statistics.splitJoinedLines > 0 {
            accounting += ", \(Count.grouped(statistics.splitJoinedLines)) joined lines split apart"
        }
        if overlong > 0 { accounting += ", \(overlong) over-long lines cut" }
        out.append(accounting + ".")
        if statistics.unrecognized > 0 {
            out.append(
                "Not understood: \(Count.grouped(statistics.unrecognized)) record(s) from an IOMMU driver, AER or DPC "
                    + "in a format Corral does not know (lines "
                    + statistics.unrecognizedLines.map(String.init).joined(separator: ", ")
                    + (statistics.unrecognized > statistics.unrecognizedLines.count ? ", …" : "")
                    + "); please report them.")
        }
        if statistics.malformed > 0 {
            out.append("Malformed: \(statistics.malformed) record(s) with unreadable fields:")
            for (line, why) in statistics.malformedExamples { out.append("  line \(line): \(why)") }
        }
        return out.joined(separator: "\n")
    }

    func formats(_ statistics: LogStatistics) -> String {
        statistics.formats.sorted { $0.value > $1.value }.map { $0.key.rawValue }.joined(separator: ", ")
    }
}
