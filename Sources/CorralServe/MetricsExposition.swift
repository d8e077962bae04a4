import CorralCore
import CorralStore

/// The journal in Prometheus text exposition format (version 0.0.4). Labels are bounded —
/// device address, event class, action kind, state — never free text. Events and actions are
/// counters (they only grow); `corral_device_contained` drops back to 0 when a device is healthy
/// again, which is what clears an alert.
public enum MetricsExposition {
    /// States in which Corral holds a device (alerting on these; `healthy`/`elevated`/`probation` clear it).
    static let containedStates: Set<String> = [
        "silenced", "stopped", "resetting", "removed", "retired", "awaiting-owner",
    ]
    static let states = [
        "healthy", "elevated", "awaiting-owner", "silenced", "stopped", "resetting", "removed", "probation", "retired",
    ]

    /// `names` adds vendor and device names from `pci.ids` to `corral_device_info` (a device's
    /// IDs alone without them).
    public static func render(_ snapshot: Journal.MetricsSnapshot, names: DeviceNames? = nil) -> String {
        var out = ""
        func family(_ name: String, _ type: String, _ help: String) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
        }
        family("corral_events_total", "counter", "Device events journaled, by device and event class.")
        for row in snapshot.events {
            out +=
                "corral_events_total{device=\"\(escape(row.device))\",class=\"\(escape(row.eventClass))\","
                + "model=\"\(snapshot.model(row.device))\"} \(row.events)\n"
        }
        family("corral_episodes_total", "counter", "Episodes (coalesced runs of one event class on one device).")
        for row in snapshot.events {
            out +=
                "corral_episodes_total{device=\"\(escape(row.device))\",class=\"\(escape(row.eventClass))\"} \(row.episodes)\n"
        }
        family("corral_events_lower_bound", "gauge", "1 when the kernel or a full queue dropped some of these events.")
        for row in snapshot.events where row.lowerBound {
            out += "corral_events_lower_bound{device=\"\(escape(row.device))\",class=\"\(escape(row.eventClass))\"} 1\n"
        }
        family(
            "corral_dma_fault_kinds_total", "counter",
            "DMA faults by device and kind (not-present, write-to-read-only, ...), where the record said.")
        for row in snapshot.faultKinds {
            out +=
                "corral_dma_fault_kinds_total{device=\"\(escape(row.device))\",kind=\"\(escape(row.kind))\"} \(row.count)\n"
        }
        family("corral_actions_total", "counter", "Actions Corral carried out, by device and action.")
        for row in snapshot.actions {
            out +=
                "corral_actions_total{device=\"\(escape(row.device))\",action=\"\(escape(row.kind))\","
                + "model=\"\(snapshot.model(row.device))\"} \(row.count)\n"
        }
        family(
            "corral_recommendations_total", "counter",
            "Actions Corral recommended (recommend mode), by device and action.")
        for row in snapshot.recommendations {
            out +=
                "corral_recommendations_total{device=\"\(escape(row.device))\",action=\"\(escape(row.kind))\"} \(row.count)\n"
        }
        family(
            "corral_owner_notifications_total", "counter",
            "Storms of a device owned by user space (a VM through vfio-pci) reported to its owner.")
        for row in snapshot.ownerNotifications {
            out += "corral_owner_notifications_total{device=\"\(escape(row.device))\"} \(row.count)\n"
        }
        family("corral_device_state", "gauge", "1 for the state each device is in now.")
        for row in snapshot.states {
            let state = states.contains(row.state) ? row.state : "unknown"
            out +=
                "corral_device_state{device=\"\(escape(row.device))\",state=\"\(state)\",model=\"\(snapshot.model(row.device))\"} 1\n"
        }
        family(
            "corral_device_contained", "gauge", "1 while Corral holds the device contained; 0 once it is healthy again."
        )
        for row in snapshot.states {
            out +=
                "corral_device_contained{device=\"\(escape(row.device))\",model=\"\(snapshot.model(row.device))\"} "
                + "\(containedStates.contains(row.state) ? 1 : 0)\n"
        }
        // Fleet views (docs/fleet.md): the model label above is PCI vendor:device — bounded by
        // the models a fleet has — and the names, class and driver are here once per device, to
        // join with `group_left`, never repeated on every series.
        family(
            "corral_device_info", "gauge",
            "1 per device the inventory knows: its model (vendor:device), names from pci.ids, class, driver.")
        for (subject, identity) in snapshot.identities.sorted(by: { $0.key < $1.key }) {
            let device = subject.description
            let name = names?.model(subject) ?? snapshot.model(device)
            let pciClass = identity.classCode.map { PCIClass($0).description } ?? "unknown"
            out +=
                "corral_device_info{device=\"\(escape(device))\",model=\"\(snapshot.model(device))\","
                + "model_name=\"\(escape(name))\",class=\"\(escape(pciClass))\",driver=\"\(escape(identity.driver ?? ""))\"} 1\n"
        }
        family(
            "corral_device_first_event_timestamp_seconds", "gauge",
            "When Corral journaled the device's first event (Unix seconds; host-clock runs only).")
        for row in snapshot.firstEventUTC {
            out +=
                "corral_device_first_event_timestamp_seconds{device=\"\(escape(row.device))\",model=\"\(snapshot.model(row.device))\"} \(row.seconds)\n"
        }
        family("corral_journal_write_losses_total", "counter", "Rows the journal could not write (disk full, locked).")
        out += "corral_journal_write_losses_total \(snapshot.writeLosses)\n"
        // The daemon about itself: every counter is always there (0 until it counts).
        for counter in DaemonCounter.allCases {
            family("corral_\(counter.rawValue)_total", "counter", counter.help)
            out += "corral_\(counter.rawValue)_total \(snapshot.counters[counter] ?? 0)\n"
        }
        family("corral_hook_runs_total", "counter", "Hook programs run, by trigger and outcome.")
        for row in snapshot.hookRuns {
            out +=
                "corral_hook_runs_total{trigger=\"\(escape(row.trigger))\",outcome=\"\(escape(row.outcome))\"} \(row.count)\n"
        }
        family("corral_build_info", "gauge", "1, labelled with the version of Corral and of its journal's schema.")
        out += "corral_build_info{version=\"\(escape(buildVersion))\",schema=\"\(Journal.schemaVersion)\"} 1\n"
        return out
    }

    /// Corral's version (`corral --version` prints the same).
    public static let buildVersion = CorralVersion.current

    /// Label value escaping: backslash, double quote, newline.
    static func escape(_ value: String) -> String {
        var out = ""
        for character in value {
            switch character {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.append(character)
            }
        }
        return out
    }
}
