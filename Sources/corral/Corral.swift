import ArgumentParser
import CorralCore

@main
struct Corral: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "corral",
        abstract: "Contain devices that flood the machine with IOMMU faults, AER errors or interrupt storms.",
        discussion: """
            Corral identifies the device behind a fault storm, contains it with the least disruptive \
            step that works (silence its faults at the IOMMU, stop its DMA and prove it quiet, reset, \
            power-cycle, remove), brings it back under a clear re-enable policy, and retires it when \
            it keeps relapsing.

            Start with `corral engine-demo` to watch the engine on a built-in event script, and \
            `corral policy defaults` to see every threshold with its origin.

            Exit status, every command: 0 done; 1 the command failed or refused, with the reason on \
            stderr (`audit`: 1 warnings, 2 failures; `check`: 1 a device held, 2 unknown); 64 a usage error (an unknown option, a bad \
            value). `--json` output is documented per command and in docs/json.md.
            """,
        version: "\(CorralVersion.current) (git \(CorralRevision.current))",
        subcommands: [
            SimulateCommand.self, DecodeCommand.self, ReplayCommand.self, EngineDemoCommand.self, PolicyCommand.self,
            WatchCommand.self, AuditCommand.self, StatusCommand.self, HistoryCommand.self, ReleaseCommand.self,
            ReportCommand.self, CheckCommand.self,
            ServeCommand.self,
            JournalStressCommand.self,
        ]
    )
}
