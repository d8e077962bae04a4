import CorralCore
import CorralSim
import Foundation
import Testing

@testable import CorralConfig

@Suite struct ScenarioFileTests {
    static let example: String = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("examples/two-nics.yaml")
        return (try? String(contentsOf: url, encoding: .utf8)) ?? ""
    }()

    @Test func theExampleParsesAndRuns() throws {
        let scenario = try ScenarioFile.parse(Self.example, file: "two-nics.yaml")
        #expect(scenario.name == "two-nics" && scenario.devices.count == 2 && scenario.iommus == [.vtd])
        #expect(scenario.devices[0].behaviours.first?.rate == 300_000)
        #expect(scenario.devices[0].profile.resetMethods == [.flr, .bus])
        var simulation = Simulation(scenario: scenario, policy: .corral(Policy()))
        let result = simulation.run()
        #expect(result.containedAfter != nil && result.healthyDisturbed.isEmpty)
    }

    @Test func aliasesAndStreamsAndHappenings() throws {
        let text = """
            name: alias
            duration: 2s
            iommus: [vtd, smmuv3]
            devices:
              - address: 0000:07:01.0
                requester-id: 0000:06:00.0
                behaviours: [{kind: stray-dma, rate: 1000, start: 0s}]
              - platform: fd5c0000.dma
                iommu: 1
                stream-id: 0x800
                happenings: [{kind: surprise-removal, at: 1s, faults-after: 5}]
            """
        let scenario = try ScenarioFile.parse(text)
        #expect(scenario.aliasGroups.count == 1 && scenario.aliasGroups[0].bridge.description == "0000:06:00.0")
        #expect(scenario.devices[1].streamID == StreamID(0x800) && scenario.devices[1].iommu == 1)
        #expect(scenario.devices[1].happenings == [Happening(.surpriseRemoval(faultsAfter: 5), at: .seconds(1))])
    }

    @Test(arguments: [
        (
            "name: x\nduration: 1s\ndevices:\n  - address: 0000:03:00.0\n    behaviors: []\n",
            "x.yaml:5:5: devices[0].behaviors: unknown key; did you mean 'behaviours'?"
        ),
        (
            "name: x\nduration: 1s\ndevices:\n  - address: 03:00.9\n",
            "x.yaml:4:14: devices[0].address: '03:00.9' is not a PCI address: function '9' is not 0–7"
        ),
        (
            "name: x\nduration: 1s\niommus: [vtd]\ndevices:\n  - address: 0000:03:00.0\n    iommu: 1\n",
            "x.yaml:6:12: devices[0].iommu: '1' is not a whole number in 0…0"
        ),
        ("name: x\ndevices: []\n", "x.yaml:1:1: duration: missing: how long to simulate (e.g. 2s)"),
        (
            "name: x\nduration: 1s\ndevices:\n  - address: 0000:03:00.0\n    behaviours:\n      - kind: stray-dma\n",
            "x.yaml:6:9: devices[0].behaviours[0].rate: missing: events per second"
        ),
        ("name: [x\n", "x.yaml:2:1: not valid YAML: did not find expected ',' or ']'"),
    ])
    func preciseErrors(_ text: String, _ expected: String) {
        #expect(throws: ConfigFileError.self) { try ScenarioFile.parse(text, file: "x.yaml") }
        do {
            _ = try ScenarioFile.parse(text, file: "x.yaml")
        } catch {
            #expect(error.description == expected)
        }
    }
}
