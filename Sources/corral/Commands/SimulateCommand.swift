import ArgumentParser
import CorralConfig
import CorralCore
import CorralSim
import Foundation

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

    @Argument(help: "A built-in scenario or a scenario file (default: \(BuiltinScenarios.defaultName)).")
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

    func run() throws {
        if list {
            if json {
                print(
                    "["
                        + BuiltinScenarios.all.map {
                            "{\"name\": \(quoted($0.name)), \"description\": \(quoted($0.description))}"
                        }.joined(separator: ", ") + "]")
            } else {
                for scenario in BuiltinScenarios.all {
                    print("\(scenario.name)\(scenario.name == BuiltinScenarios.defaultName ? " (default)" : "")")
                    print("    \(scenario.description)")
                }
            }
            return
        }
        let chosen = try loadScenario()
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
            results.append(simulation.run())
        }
        if json {
            print(SimReport.json(chosen, seed: seed, results))
        } else {
            print(SimReport.text(chosen, seed: seed, results))
        }
    }

    func quoted(_ text: String) -> String { JSONLine.quote(text) }

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
