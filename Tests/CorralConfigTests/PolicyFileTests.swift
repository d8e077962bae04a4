import CorralCore
import Testing

@testable import CorralConfig

@Suite("Policy files")
struct PolicyFileTests {
    @Test func emptyFileIsTheDefaults() throws {
        #expect(try PolicyFile.parse("") == Policy())
        #expect(try PolicyFile.parse("# nothing\n") == Policy())
    }

    @Test func renderedDefaultsParseBackToTheDefaults() throws {
        #expect(try PolicyFile.parse(PolicyFile.render(Policy())) == Policy())
    }

    @Test func renderedCustomPolicyRoundTrips() throws {
        var policy = Policy()
        policy.mode = .enforce
        policy.classes[.dmaFault].thresholds.storm = RateThreshold(50, per: .milliseconds(100))
        policy.classes[.aerCorrected].contain = true
        policy.ladder.resetMethods = [.bus, .flr]
        policy.protectedDevices = [.pci(PCIAddress(bus: 0, device: 0x17, function: 0)!)]
        policy.ownerDrivers = ["vfio-pci", "uio_pci_generic"]
        policy.retirement.maxContainments = 2
        policy.suppressedMessages = .attribute
        #expect(try PolicyFile.parse(PolicyFile.render(policy)) == policy)
        #expect(throws: ConfigFileError.self) { try PolicyFile.parse("suppressed-messages: guess\n") }
    }

    /// `policy defaults --json` / `policy check --json` (issue 17): the file's keys as one JSON
    /// document, which is itself a policy file giving the same policy back.
    @Test func jsonViewIsThePolicyAndParsesBack() throws {
        var policy = Policy()
        policy.mode = .enforce
        policy.classes[.dmaFault].thresholds.storm = RateThreshold(50, per: .milliseconds(100))
        policy.protectedDevices = [.pci(PCIAddress(bus: 0, device: 0x17, function: 0)!)]
        policy.hooks.commands[.containment] = ["/usr/local/bin/page", "--severity", "warning"]
        let json = try PolicyFile.json(policy)
        #expect(json.hasPrefix("{") && !json.contains("\n") && !json.contains("\\/"))
        #expect(json.contains("\"mode\":\"enforce\""))
        #expect(json.contains("\"dma-fault\":{\"contain\":true,\"elevated\":\"10 / 5s\",\"storm\":\"50 / 100ms\"}"))
        #expect(try PolicyFile.parse(json) == policy)
        #expect(try PolicyFile.parse(PolicyFile.json(Policy())) == Policy())
    }

    @Test func valuesAreRead() throws {
        let policy = try PolicyFile.parse(
            """
            mode: enforce
            classes:
              dma-fault: { storm: 5k / 1s }
              irq-storm:
                contain: false
            ladder:
              reset-methods: [pm, flr]
              remove: no
            timing:
              owner-deadline: 30s
            probation: { hold: 250ms, period: 2m }
            retirement: { max-containments: 3, window: 24h }
            circuit-breaker: 5 / 1m
            protected: ["0000:00:17.0", "a600000.usb"]
            """)
        #expect(policy.mode == .enforce)
        #expect(policy.classes[.dmaFault].thresholds.storm == RateThreshold(5_000, per: .seconds(1)))
        #expect(policy.classes[.dmaFault].thresholds.elevated == RateThreshold(10, per: .seconds(5)))
        #expect(policy.classes[.irqStorm].contain == false)
        #expect(policy.ladder.resetMethods == [.pm, .flr])
        #expect(policy.ladder.remove == false)
        #expect(policy.timing.ownerDeadline == .seconds(30))
        #expect(policy.probation.hold == .milliseconds(250) && policy.probation.period == .seconds(120))
        #expect(policy.retirement.maxContainments == 3 && policy.retirement.window == .seconds(86_400))
        #expect(policy.circuitBreaker == RateThreshold(5, per: .seconds(60)))
        #expect(policy.protectedDevices.contains(.platform(PlatformDeviceName("a600000.usb"))))
    }

    /// Each bad file gives the file, line, column and dotted key, and says what is wrong.
    @Test(arguments: [
        ("mode: enfroce\n", "corral.yaml:1:7: mode: 'enfroce' is not a mode (observe, recommend, enforce)"),
        (
            "classes:\n  dma-fault:\n    strom: 1 / 1s\n",
            "corral.yaml:3:5: classes.dma-fault.strom: unknown key; did you mean 'storm'?"
        ),
        (
            "classes:\n  dma-fault: { storm: 1000 }\n",
            "corral.yaml:2:23: classes.dma-fault.storm: '1000' is not a rate: expected 'N / duration', e.g. '1000 / 1s'"
        ),
        ("classes:\n  dma-faults: {}\n", "corral.yaml:2:3: classes.dma-faults: unknown key; did you mean 'dma-fault'?"),
        (
            "ladder:\n  reset-methods: [flr, sbr]\n",
            "corral.yaml:2:24: ladder.reset-methods[1]: 'sbr' is not a reset method (device_specific, acpi, flr, af_flr, pm, bus, cxl_bus)"
        ),
        ("timing:\n  silence-hold: 0ms\n", "corral.yaml:2:17: timing.silence-hold: '0ms' must be longer than zero"),
        (
            "timing:\n  silence-hold: soon\n",
            "corral.yaml:2:17: timing.silence-hold: 'soon' is not a duration: expected a whole number before the unit"
        ),
        (
            "retirement:\n  max-containments: -1\n",
            "corral.yaml:2:21: retirement.max-containments: '-1' is not a whole number in 1…10000"
        ),
        (
            "protected: [\"03:20.0\"]\n",
            "corral.yaml:1:13: protected[0]: '03:20.0' is not a PCI address: device '20' is not 00–1f"
        ),
        ("mode: enforce\nmode: observe\n", "corral.yaml:1:1: mode: duplicate key"),
        ("ladder: [1, 2]\n", "corral.yaml:1:9: ladder: expected a mapping of keys, found a list"),
        ("mode: [enforce]\n", "corral.yaml:1:7: mode: expected a single value, found a list"),
        (
            "probation:\n  hold: 1s\n  colour: blue\n",
            "corral.yaml:3:3: probation.colour: unknown key; known keys here: automatic-reenable, hold, backoff-factor, max-hold, period"
        ),
    ])
    func preciseErrors(text: String, expected: String) {
        #expect(throws: ConfigFileError.self) { try PolicyFile.parse(text, file: "corral.yaml") }
        do {
            _ = try PolicyFile.parse(text, file: "corral.yaml")
        } catch {
            #expect(error.description == expected)
        }
    }

    @Test func brokenYAMLHasALocation() {
        do {
            _ = try PolicyFile.parse("mode: enforce\nclasses: {dma-fault: [\n", file: "bad.yaml")
            Issue.record("accepted broken YAML")
        } catch {
            #expect(error.file == "bad.yaml")
            #expect(error.line != nil)
            #expect(error.problem.hasPrefix("not valid YAML"))
        }
    }
}
