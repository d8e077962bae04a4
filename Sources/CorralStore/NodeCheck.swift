import CorralCore

/// `corral check`: one verdict about the machine from Corral's own state, for programs that
/// poll a node's health — Kubernetes' node-problem-detector runs it as a custom plugin (issue
/// 19). Its protocol (`pkg/custompluginmonitor/types/types.go`): exit 0 OK, 1 a problem, 2 (or
/// anything else) unknown; standard output is the condition's message, cut at the monitor's
/// `max_output_length` (80 by default). The verdict reads the journal — never the kernel log
/// again — so it says exactly what `corral status` says.
public struct NodeCheck: Hashable, Sendable {
    /// What counts as a problem.
    public enum Condition: String, CaseIterable, Sendable {
        /// Corral holds a device (silenced, stopped, resetting, removed, awaiting its owner) or
        /// has retired one.
        case contained
        /// A device relapsed past its budget and stays off until an operator acts.
        case retired
    }

    public enum Verdict: Int32, Sendable {
        case ok = 0
        case problem = 1
        case unknown = 2
    }

    public var verdict: Verdict
    /// One line, at most `maximumLength` bytes.
    public var message: String

    public init(verdict: Verdict, message: String) {
        self.verdict = verdict
        self.message = message
    }

    /// The states each condition is about (`ContainmentState.name`).
    static func states(_ condition: Condition) -> Set<String> {
        switch condition {
        case .contained: ["awaiting-owner", "silenced", "stopped", "resetting", "removed", "retired"]
        case .retired: ["retired"]
        }
    }

    /// The verdict on `journal` for `condition`; its message cut to `maximumLength` bytes (never
    /// inside a character) so the monitor shows it whole or marked cut (`…`).
    public static func evaluate(_ journal: Journal, condition: Condition, maximumLength: Int = 80) -> NodeCheck {
        let states: [Subject: (run: Int64, state: String)]
        do {
            states = try journal.deviceStates()
        } catch {
            return NodeCheck(verdict: .unknown, message: fit("unknown: \(error.description)", maximumLength))
        }
        let held = states.filter { !$0.key.isUnattributed && Self.states(condition).contains($0.value.state) }
            .sorted { $0.key < $1.key }
        guard !held.isEmpty else {
            let what = condition == .retired ? "retired" : "contained"
            return NodeCheck(
                verdict: .ok, message: fit("ok: no PCI device \(what) (\(states.count) known to Corral)", maximumLength)
            )
        }
        let list = held.map { "\($0.key) \($0.value.state)" }.joined(separator: ", ")
        return NodeCheck(verdict: .problem, message: fit("\(held.count) held: \(list)", maximumLength))
    }

    /// `text` on one line, at most `limit` bytes of UTF-8, `…` at the end when cut.
    public static func fit(_ text: String, _ limit: Int) -> String {
        let line = String(text.map { $0.isNewline ? " " : $0 })
        guard line.utf8.count > limit else { return line }
        let ellipsis = "…"
        var out = ""
        for character in line {
            if out.utf8.count + String(character).utf8.count + ellipsis.utf8.count > limit { break }
            out.append(character)
        }
        return out + ellipsis
    }
}
