import ArgumentParser
import CorralLinux
import Foundation

struct AuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Is the IOMMU actually protecting this machine? Read-only checks, each with evidence and the fix.",
        discussion: """
            Checks that an IOMMU is present and used, interrupt remapping, kernel switches that \
            weaken it (iommu=pt, intel_iommu=off, iommu.strict=0, ...), every IOMMU group's domain \
            type and sharing, devices bus-mastering with no driver, devices behind external ports \
            (and ATS on them), Thunderbolt security. Exit code: 0 all ok, 1 warnings, 2 failures.
            """)

    @Option(help: "Root of the system to audit (a saved or fake tree).")
    var root: String = "/"

    @Flag(help: "One JSON array of findings.")
    var json = false

    func run() throws {
        let findings = Audit.run(SysRoot(root))
        if json {
            print(JSONLine.encode(findings))
        } else {
            for finding in findings.sorted(by: { $0.verdict > $1.verdict }) {
                print(
                    "\(finding.verdict.rawValue.uppercased().padding(toLength: 5, withPad: " ", startingAt: 0)) \(finding.check): \(finding.evidence)"
                )
                if finding.verdict != .ok {
                    print("      why: \(finding.why)")
                    print("      fix: \(finding.fix)")
                }
            }
        }
        throw ExitCode(Audit.exitCode(findings))
    }
}
