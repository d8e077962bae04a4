import ArgumentParser
import CorralConfig
import CorralCore
import CorralSim
import CorralStore
import Foundation

/// Holds a journal writer the simulation's event callback can reach.
/// One policy's run into the journal: what the devices did (`onEvent`), and the loop's
/// decisions and action outcomes through the `JournalRecorder` the daemon's loop uses too.
final class SimJournal {
    let recorder: JournalRecorder

    init(writer: JournalWriter) { recorder = JournalRecorder(writer: writer) }

    func observe(_ observation: Observation) { recorder.writer.observe(observation) }

    func finish(_ result: SimResult) throws {
        if let last = result.decisions.last { recorder.writer.record(states: result.finalStates, at: last.at) }
        if !recorder.writer.flush() {
            throw CommandFailure("journal: \(recorder.writer.lastError ?? "write failed")")
        }
    }
}

struct SimulateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Simulate misbehaving PCIe devices behind real-format IOMMUs and compare containment policies.",
        discussion: """
            A deterministic discrete-event simulation in virtual nanoseconds: devices, IOMMU \
            models that record faults in the vendor's binary layout (decoded back by Corral's \
            decoders), a CPU that pays for every fault interrupt, and a policy — `corral` (the \
            engine), `linux-today` (ratelimited printing, nothing contained) or `eeh` (freeze on \
            first error, 5 per hour). Figures come from the model (see docs/simulator.md for its \
            costs and their sources), never from this machine's clock.

            `corral simulate --list` describes the scenarios. A scenario of your own is a YAML \
            (or JSON) file: `corral simulate my-storm.yaml` (format: docs/simulator.md).
            """)

    @Argument(help: "A built-in scenario or a scenario file.")
    var scenario: String = BuiltinScenarios.defaultName

    @Option(help: "The policy to run: \(SimPolicy.names.joined(separator: ", ")).")
    var policy: String = "corral"

    @Flag(help: "Run every policy and print them side by side.")
    var compare = false

    @Option(help: "Seed for the simulation's random choices (same seed, same result).")
    var seed: UInt64 = 1

    @Option(name: .customLong("config"), help: "An engine policy YAML file for the corral policy.")
    var configFile: String?

    @Flag(help: "JSON: {scenario, seed, policies: [...], timeline: [...]}.")
    var json = false

    @Flag(help: "List the built-in scenarios.")
    var list = false

    @Option(
        name: .customLong("journal"),
        help: "Keep each policy's run in this journal (run named scenario/policy/seed; re-running updates it).")
    var journalPath: String?

    @Option(help: "Also write an HTML report of the runs (keeps a journal beside it if --journal is not given).")
    var report: String?

    @Option(
        help: ArgumentHelp(
            "Refuse a scenario that may generate more device events than this per policy run.",
            discussion: "An upper bound from its rates and durations (100 M is under a minute per policy)."))
    var maxEvents: Double = SimulationBudget().maxEvents

    func run() throws {
        if list {
            if json {
                struct Listed: Encodable {
                    var name: String
                    var description: String
                    var isDefault: Bool
                    enum CodingKeys: String, CodingKey {
                        case name, description
                        case isDefault = "default"
                    }
                }
                print(
                    JSONLine.encode(
                        BuiltinScenarios.all.map {
                            Listed(
                                name: $0.name, description: $0.description,
                                isDefault: $0.name == BuiltinScenarios.defaultName)
                        }))
            } else {
                for scenario in BuiltinScenarios.all {
                    print("\(scenario.name)\(scenario.name == BuiltinScenarios.defaultName ? " (default)" : "")")
                    print("    \(scenario.description)")
                }
            }
            return
        }
        let chosen = try loadScenario()
        if let problem = SimulationBudget(maxEvents: maxEvents).problem(chosen) {
            throw CommandFailure("\(scenario): \(problem)")
        }
        var enginePolicy = chosen.policy
        if let configFile { enginePolicy = try PolicyLoader.load(path: configFile) }
        let names = compare ? SimPolicy.names : [policy]
        var results: [SimResult] = []
        for name in names {
            guard let simPolicy = SimPolicy.named(name, corral: enginePolicy) else {
                throw CommandFailure(
                    "no policy named '\(name)'; choose one of \(SimPolicy.names.joined(separator: ", "))")
            }
            var simulation = Simulation(scenario: chosen, policy: simPolicy, seed: seed)
            let writer = try journalWriter(run: "\(chosen.name)/\(name)/seed-\(seed)")
            if let writer {
                // What the scenario says each device is (driver, serial, class): names in status,
                // history and the report, as the daemon journals its inventory.
                writer.recorder.writer.record(
                    devices: chosen.devices.map { device in
                        DeviceIdentity(
                            address: device.profile.address.description, vendorID: device.pciID?.vendor,
                            deviceID: device.pciID?.device, classCode: device.profile.pciClass?.rawValue,
                            serial: device.profile.serial?.description, driver: device.profile.driver?.description)
                    }, atUTC: utcNow())
                // Decisions come from the engine's loop only under `corral`; the others (EEH's
                // freezes, linux-today) are in the timeline, not the journal's decisions.
                simulation.recorder = writer.recorder
                simulation.onEvent = { event in
                    writer.observe(
                        Observation(
                            subject: event.subject, eventClass: event.eventClass, at: event.at.nanoseconds,
                            count: event.count,
                            address: event.address, status: event.status, faultKind: event.faultKind))
                }
            }
            let result = simulation.run()
            if let writer { try writer.finish(result) }
            results.append(result)
        }
        if let report, let path = journalPath ?? Optional(report + ".journal.sqlite") {
            do {
                let journal = try Journal(path: path)
                try ReportCommand.write(HTMLReport.render(journal, title: "corral simulate \(chosen.name)"), to: report)
            } catch let failure as CommandFailure {
                throw failure
            } catch {
                throw CommandFailure("\(error)")
            }
        }
        if json {
            print(SimReport.json(chosen, seed: seed, results))
        } else {
            print(SimReport.text(chosen, seed: seed, results))
        }
    }

    /// A journal writer for one policy's run, when --journal or --report asks for one.
    func journalWriter(run name: String) throws -> SimJournal? {
        guard let path = journalPath ?? report.map({ $0 + ".journal.sqlite" }) else { return nil }
        do {
            let journal = try Journal(path: path)
            let run = try journal.run(kind: "simulate", name: name, startedUTC: utcNow())
            return SimJournal(writer: JournalWriter(journal: journal, run: run))
        } catch {
            throw CommandFailure(error.description)
        }
    }

    func loadScenario() throws -> Scenario {
        if let builtin = BuiltinScenarios.named(scenario) { return builtin }
        guard FileManager.default.fileExists(atPath: scenario) else {
            throw CommandFailure(
                "no scenario named '\(scenario)' and no such file; `corral simulate --list` shows the built-in ones: "
                    + BuiltinScenarios.all.map(\.name).joined(separator: ", "))
        }
        guard let data = FileManager.default.contents(atPath: scenario), let text = String(data: data, encoding: .utf8)
        else {
            throw CommandFailure("\(scenario): cannot read it as UTF-8 text")
        }
        do {
            return try ScenarioFile.parse(text, file: scenario)
        } catch {
            throw CommandFailure(error.description)
        }
    }
}
