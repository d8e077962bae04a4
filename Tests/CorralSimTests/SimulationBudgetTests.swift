import CorralConfig
import CorralCore
import CorralSim
import Testing

/// A scenario file is input: its work is bounded before the run starts.
@Suite struct SimulationBudgetTests {
    /// The measured case: 5,000 devices at 1 M faults/s for an hour.
    static func flood(devices: Int, rate: Int, duration: String) throws -> Scenario {
        var text = "name: flood\nduration: \(duration)\ndevices:\n"
        for index in 0..<devices {
            let address = PCIAddress(
                bus: UInt8(1 + index / 256), device: UInt8(index % 32), function: UInt8((index / 32) % 8))!
            text +=
                "  - address: \(address)\n    behaviours:\n      - kind: stray-dma\n        rate: \(rate)\n        start: 1ns\n"
        }
        return try ScenarioFile.parse(text, file: "flood.yaml")
    }

    @Test func theUnboundedRunIsRefusedWithItsFigures() throws {
        let scenario = try Self.flood(devices: 5_000, rate: 1_000_000, duration: "1h")
        #expect(abs(scenario.eventBound - 5_000 * 1e6 * 3_600) < 1e6)
        let problem = try #require(SimulationBudget().problem(scenario))
        #expect(problem.hasPrefix("up to 18 T device events per policy run"))
        #expect(problem.contains("--max-events"))
    }

    @Test func everyBuiltInScenarioFits() {
        for scenario in BuiltinScenarios.all {
            #expect(SimulationBudget().problem(scenario) == nil, "\(scenario.name): \(scenario.eventBound)")
            #expect(scenario.eventBound > 0, "\(scenario.name)")
        }
    }

    /// A behaviour that stops and relapses counts once per activation, never past the run's end.
    @Test func relapsesAndDurationsBoundTheCount() throws {
        let text = """
            name: relapsing
            duration: 10s
            devices:
              - address: 0000:03:00.0
                behaviours:
                  - kind: stray-dma
                    rate: 1000
                    start: 1s
                    duration: 2s
                    relapses: 2
              - address: 0000:04:00.0
                behaviours:
                  - kind: stray-dma
                    rate: 1000
                    start: 8s
                    duration: 5s
                    relapses: 3
            """
        let scenario = try ScenarioFile.parse(text, file: "relapsing.yaml")
        #expect(scenario.eventBound(device: 0) == 1_000 * 6)
        #expect(scenario.eventBound(device: 1) == 1_000 * 2)
        #expect(SimulationBudget(maxEvents: 7_999).problem(scenario) != nil)
        #expect(SimulationBudget(maxEvents: 8_000).problem(scenario) == nil)
    }

    @Test func tooManyDevices() throws {
        let scenario = try Self.flood(devices: 11, rate: 1, duration: "1s")
        #expect(SimulationBudget(maxDevices: 10).problem(scenario) == "11 devices, more than the 10 a run may simulate")
    }
}
