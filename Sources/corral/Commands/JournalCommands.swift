import ArgumentParser
import CorralCore
import CorralLinux
import CorralStore
import Foundation

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Every device the journal knows: its state, its last episode, when it may be re-enabled, budget left."
    )

    @OptionGroup var journal: JournalOption

    @Flag(help: "One JSON object per device (JSON Lines).")
    var json = false

    @Flag(help: "Show times in UTC (RFC 3339 with Z) instead of local time.")
    var utc = false

    @OptionGroup var names: NamesOption

    func run() throws {
        let store = try journal.open()
        let names = try names.load(store)
        let summaries: [Journal.DeviceSummary]
        let protected: [String: [String]]
        let pending: [StatusTable.PendingRelease]
        do {
            summaries = try store.deviceSummaries()
            protected = Dictionary(try store.protectedDevices().map { ($0.device, $0.reasons) }, uniquingKeysWith: +)
            pending = try store.pendingReleases().map {
                StatusTable.PendingRelease(id: $0.id, device: Subject(name: $0.device), by: $0.by, atUTC: $0.at)
            }
        } catch {
            throw CommandFailure(error.description)
        }
        if json {
            // The same objects as `/status`'s `devices`, one per line.
            let document: StatusDocument
            do {
                document = try store.statusDocument(names: names)
            } catch {
                throw CommandFailure(error.description)
            }
            for device in document.devices { print(JSONLine.encode(device)) }
            return
        }
        print(
            StatusTable.render(
                summaries, pending: pending, protected: protected, path: store.path, display: .choose(utc: utc),
                names: names))
    }
}

struct HistoryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "history",
        abstract: "What each device did and what was done about it, grouped by device (like ras-mc-ctl --summary).")

    @OptionGroup var journal: JournalOption

    @Option(help: "Only this device (as printed by `corral status`).")
    var device: String?

    @OptionGroup var time: TimeOptions

    @OptionGroup var names: NamesOption

    @Option(name: .customLong("class"), help: "Only this event class (dma-fault, aer-corrected, ...).")
    var eventClass: String?

    @Flag(help: "JSON Lines: one object per episode and per decision.")
    var json = false

    func run() throws {
        let store = try journal.open()
        do {
            let sinceUTC = try time.sinceUTC()
            let display = time.display
            let deviceNames = try names.load(store)
            let subject = device.map(Subject.init(name:))
            let observedClass = eventClass.map(ObservedClass.init(name:))
            if case .other(let name)? = observedClass {
                throw CommandFailure(
                    "--class \(name): not a class Corral journals; one of "
                        + ObservedClass.known.map(\.description).joined(separator: ", "))
            }
            let episodes = try store.episodes(device: subject, eventClass: observedClass, sinceUTC: sinceUTC)
            let decisions = try store.decisions(subject: subject, sinceUTC: sinceUTC)
            // What the DMA faults were, per device (all runs: the totals carry no time).
            let kinds = Journal.FaultKindsLine.lines(try store.faultKinds(device: subject))
            if json {
                for episode in episodes { print(JSONLine.encode(episode)) }
                for decision in decisions { print(JSONLine.encode(decision)) }
                for line in kinds where observedClass == nil || observedClass == .event(.dmaFault) {
                    print(JSONLine.encode(line))
                }
                return
            }
            let devices = Set(episodes.map(\.device) + decisions.map(\.subject)).sorted()
            // Names and reasons hold text from devices and logs: no escapes reach the terminal.
            func print(_ line: String) { Swift.print(TerminalText.safe(line)) }
            if devices.isEmpty { print("Nothing in \(store.path) matches.") }
            for name in devices {
                let mine = episodes.filter { $0.device == name }
                print("\(name): \(Count.grouped(mine.map(\.count).reduce(0, +))) events in \(mine.count) episode(s)")
                if let what = deviceNames.describe(name) { print("  \(what)") }
                for episode in mine {
                    print(
                        "  \(display.text(utc: episode.firstUTC, at: episode.first, clock: episode.clock)) … "
                            + "\(display.text(utc: episode.lastUTC, at: episode.last, clock: episode.clock))  "
                            + "\(Count.grouped(episode.count))\(episode.lowerBound ? "+" : "") \(episode.eventClass)"
                            + (episode.sampleAddresses.isEmpty ? "" : "  (e.g. \(episode.sampleAddresses))")
                            + (episode.statusBits.map { "  status \($0)" } ?? ""))
                }
                if !mine.isEmpty, let line = kinds.first(where: { $0.device == name }) {
                    print("  DMA faults whose record said its kind: " + line.summary)
                }
                for decision in decisions where decision.subject == name && decision.action != nil {
                    print(
                        "  \(display.text(utc: decision.atUTC, at: decision.at, clock: decision.clock))  \(decision.recommendation ? "?" : "!") \(decision.reason)"
                    )
                }
            }
        } catch let failure as CommandFailure {
            throw failure
        } catch {
            throw CommandFailure("\(error)")
        }
    }
}

struct ReleaseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "release",
        abstract: "Release a contained or retired device (operator re-enable), journaled with who and when.",
        discussion: """
            The running daemon applies the release at its next step and marks it applied: it undoes \
            every measure, clears the retirement budget and puts the device on probation.

            Refused (exit 1) for a device Corral does not hold (healthy, elevated, on probation): \
            there is nothing to release. A second release while one is pending is not journaled again.

            The operator is journaled by login: the login UID (/proc/self/loginuid, kept across \
            sudo and su) and its name, SUDO_USER, and the account the command ran as.
            """)

    @Argument(help: "The device, as `corral status` prints it (e.g. 0000:03:00.0).")
    var device: String

    @OptionGroup var journal: JournalOption

    @Flag(
        help: ArgumentHelp(
            "One JSON object: {type: release, id, device, state, by, pending_before}.",
            discussion: "A refusal is an error on stderr and exit 1, as without --json."))
    var json = false

    /// `release --json`: what was journaled, or the release already pending.
    struct Outcome: Encodable {
        var type = "release"
        var id: Int64
        var device: String
        var state: String?
        var by: String
        /// True when this call journaled nothing: a release of the device was already pending.
        var pendingBefore: Bool

        enum CodingKeys: String, CodingKey {
            case type, id, device, state, by
            case pendingBefore = "pending_before"
        }
    }

    func run() throws {
        let store = try journal.openForWriting()
        let identity = OperatorIdentity.current()
        do {
            // As the journal names it (`03:00.0` is `0000:03:00.0`).
            let subject = Subject(name: device)
            switch try store.releaseCheck(subject) {
            case .unknown:
                throw CommandFailure("\(device): not in \(store.path); `corral status` lists the devices it knows")
            case .notContained(let state):
                throw CommandFailure(
                    "\(subject) is \(state ?? "not contained"): Corral holds nothing against it, so there is "
                        + "nothing to release (a release would only reset its retirement budget); refused")
            case .pending(let id, let by):
                if json {
                    print(
                        JSONLine.encode(
                            Outcome(id: id, device: subject.description, state: nil, by: by, pendingBefore: true)))
                } else {
                    print(
                        "release #\(id) of \(subject) by \(by) is already journaled; the daemon applies it at its next step."
                    )
                }
            case .releasable(let state):
                let id = try store.release(subject.description, by: identity.description, atUTC: utcNow())
                if json {
                    print(
                        JSONLine.encode(
                            Outcome(
                                id: id, device: subject.description, state: state, by: identity.description,
                                pendingBefore: false)))
                } else {
                    print(
                        "release #\(id) of \(subject) (\(state)) by \(identity) journaled; "
                            + "the daemon applies it at its next step.")
                }
            }
        } catch let failure as CommandFailure {
            throw failure
        } catch {
            throw CommandFailure("\(error)")
        }
    }
}
