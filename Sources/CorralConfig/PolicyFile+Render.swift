import CorralCore
import Foundation
import Yams

extension PolicyFile {
    /// The policy as a complete, commented YAML file: every key, its value and where the
    /// default comes from. `corral policy defaults` prints it; parsing it gives the policy back.
    public static func render(_ policy: Policy) -> String {
        var out = """
            # Corral policy. Every key is optional: what is left out keeps its default.
            # Rates are written like mcelog's thresholds: N / duration (units ns us ms s m h d).

            # observe: record and summarise only. recommend: say what would be done (default).
            # enforce: do it.
            mode: \(policy.mode)

            # Per event class: `elevated` starts coalesced reporting (default: the kernel's own
            # printk ratelimit, 10 / 5s, above which its log under-counts) and is the relapse
            # threshold during probation; `storm` starts containment; `contain: false` only reports.
            classes:

            """
        for eventClass in EventClass.allCases {
            let entry = policy.classes[eventClass]
            out +=
                "  \(eventClass.rawValue): { elevated: \(spaced(entry.thresholds.elevated)), storm: \(spaced(entry.thresholds.storm)), contain: \(entry.contain) }\n"
        }
        let ladder = policy.ladder
        let timing = policy.timing
        let probation = policy.probation
        out += """

            # The escalation ladder, least disruptive first; a rung is used only if the device can.
            ladder:
              silence: \(ladder.silence)              # mute fault reporting at the IOMMU (FPD, DTE SA, CD.R, CFRE)
              stop-dma: \(ladder.stopDMA)             # clear bus master + await quiescence, or block at the IOMMU
              reset-methods: [\(ladder.resetMethods.map(\.rawValue).joined(separator: ", "))]   # tried in this order (kernel reset_method names)
              reset-shared-bus: \(ladder.resetSharedBus)    # allow a bus reset when other devices share the bus
              slot-power-cycle: \(ladder.slotPowerCycle)
              remove: \(ladder.remove)

            timing:
              silence-hold: \(timing.silenceHold.compact)          # drm/msm stall-on-fault cooldown
              quiescence-deadline: \(timing.quiescenceDeadline.compact)   # pci_wait_for_pending(): 0+100+200+400 ms
              unverified-grace: \(timing.unverifiedGrace.compact)      # 2 x the PCIe default completion timeout (50 ms)
              reset-deadline: \(timing.resetDeadline.compact)     # FLR 100 ms + PCIE_RESET_READY_POLL_MS (60 s)
              action-deadline: \(timing.actionDeadline.compact)          # any other action's outcome
              owner-deadline: \(timing.ownerDeadline.compact)           # time a vfio-pci owner gets to act
              report-interval: \(timing.reportInterval.compact)          # one summary per interval (DEFAULT_RATELIMIT_INTERVAL)

            probation:
              automatic-reenable: \(probation.automaticReenable)
              hold: \(probation.hold.compact)                     # contained this long before the first automatic re-enable
              backoff-factor: \(probation.backoffFactor)            # hold multiplied per further containment in the window
              max-hold: \(probation.maxHold.compact)
              period: \(probation.period.compact)                  # quiet this long after re-enable to be healthy again

            # Power EEH: eeh_max_freezes = 5 per hour; the 6th containment in the window retires.
            retirement:
              max-containments: \(policy.retirement.maxContainments)
              window: \(policy.retirement.window.compact)

            # Global cap on device-changing actions; beyond it, actions become recommendations.
            circuit-breaker: \(spaced(policy.circuitBreaker))

            # Interrupts per second on one of a device's own vectors (MSI/MSI-X), handled by its
            # driver, that count as one interrupt-flood sample (the class above says how many
            # samples make a storm, and whether it is contained).
            interrupt-flood-rate: \(policy.interruptFloodRate)

            # The kernel's `N callbacks suppressed`: fault messages its printk ratelimit dropped. They
            # name no device and are held against the noisiest device on that IOMMU. count: added to
            # its totals as a lower bound, never to its rate (default). attribute: also to its rate,
            # so a storm the log under-reports can still be contained (on that guess).
            suppressed-messages: \(policy.suppressedMessages)

            # Devices Corral only ever recommends for (root disk, console, ...), e.g. ["0000:00:17.0"].
            protected: [\(policy.protectedDevices.sorted().map { "\"\($0)\"" }.joined(separator: ", "))]

            # Drivers whose devices belong to user space: the owner is told first.
            owner-drivers: [\(policy.ownerDrivers.map(\.name).sorted().joined(separator: ", "))]

            # Owners whose devices Corral may contain itself after the owner deadline. Default none:
            # a VM's device is notified (journal, metric, on-owner hook) and recommended for, never
            # written to under a running guest.
            owner-contain: [\(policy.ownerContain.map(\.name).sorted().joined(separator: ", "))]

            # Programs to run (argv, absolute path, no shell) with the event as JSON on stdin and in
            # CORRAL_* variables, e.g. on-containment: [/usr/local/bin/page-oncall, --severity, warning].
            hooks:
            \(HookPolicy.Trigger.allCases.map { "  \($0.rawValue): [\((policy.hooks.commands[$0] ?? []).map { "\"\($0)\"" }.joined(separator: ", "))]" }.joined(separator: "\n"))
              timeout: \(policy.hooks.timeout.compact)
              max-concurrent: \(policy.hooks.maxConcurrent)

            """
        return out
    }

    private static func spaced(_ rate: RateThreshold) -> String { "\(rate.count) / \(rate.window.compact)" }
}

extension PolicyFile {
    /// The policy as one JSON document with the YAML file's keys and values (`corral policy
    /// defaults --json`, `policy check --json`): the rendered file read by Yams and written by
    /// Foundation's JSON encoder, so the two can never disagree. JSON is YAML too: the output is
    /// itself a policy file (`PolicyFileTests`).
    public static func json(_ policy: Policy) throws -> String {
        let tree = try Yams.load(yaml: render(policy)) ?? [String: Any]()
        let data = try JSONSerialization.data(withJSONObject: tree, options: [.sortedKeys, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self)
    }
}
