import ArgumentParser
import CorralConfig
import CorralCore

struct EngineDemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "engine-demo",
        abstract: "Run the containment engine over a built-in event script and print its decisions.",
        discussion: """
            The script: a NIC's runaway DMA engine (2,000 VT-d write-to-read-only faults at \
            500,000/s), a GPU's recoverable page requests, a sound card's rare stray DMA, a relapse \
            after Corral's automatic re-enable, the NIC driver's own re-enable, an NVMe surprise \
            removal with faults after it, and a vfio-pci device whose VMM never answers.

            Events and outcomes are scripted (every action succeeds after 20µs; Transactions \
            Pending clears 1ms after bus master is cleared): the times shown describe the script, \
            not real hardware. The simulator will replace this as the embedded default.
            """)

    @Option(help: "observe, recommend or enforce (enforce shows the whole ladder).")
    var mode: Policy.Mode = .enforce

    @Option(name: .customLong("config"), help: "A policy YAML file (see `corral policy defaults`).")
    var configFile: String?

    @Flag(help: "One JSON object per decision (JSON Lines), then one per device.")
    var json = false

    func run() throws {
        var policy = try configFile.map { try PolicyLoader.load(path: $0) } ?? Policy()
        policy.mode = mode
        let (decisions, engine) = EngineDemo.run(policy: policy)
        if json {
            for decision in decisions { print(JSONLine.encode(decision)) }
            for device in engine.devices { print(JSONLine.encode(device)) }
            return
        }
        print("corral engine-demo — mode \(policy.mode); built-in event script, scripted outcomes (not a simulation)\n")
        for decision in decisions {
            print(TextReport.decision(decision))
        }
        print("")
        print(TextReport.deviceTable(engine.devices))
        let stats = engine.statistics
        print("")
        print(
            "\(Count.grouped(stats.events)) events; ignored: \(Count.grouped(stats.ignoredRecoverable)) recoverable, "
                + "\(Count.grouped(stats.ignoredAfterRemoval)) after removal; "
                + "\(Count.grouped(stats.unattributedOverflows)) unattributed overflows.")
    }
}

extension Policy.Mode: ExpressibleByArgument {}
