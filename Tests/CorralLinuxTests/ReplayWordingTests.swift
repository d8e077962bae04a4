import CorralTestSupport
import Foundation
import Testing

/// What `corral replay` says in words (issue 17): no "storms found: 0" above a line of reports,
/// no "below every threshold" when the kernel dropped messages, the marks explained where they
/// are shown, pseudo-subjects as what they are; and with `suppressed-messages: attribute` the
/// same log leads to a containment.
@Suite struct ReplayWordingTests {
    static let log = """
        [    1.000000] DMAR: [DMA Write NO_PASID] Request device [03:00.0] fault addr 0x1000 [fault reason 0x05] PTE Write access is not set
        [    1.100000] DMAR: [DMA Write NO_PASID] Request device [03:00.0] fault addr 0x2000 [fault reason 0x05] PTE Write access is not set
        [    1.200000] dmar_fault: 5000 callbacks suppressed
        [    1.300000] DMAR: [DMA Read NO_PASID] Request device [04:00.0] fault addr 0x3000 [fault reason 0x06] PTE Read access is not set

        """

    static func replay(_ extra: [String] = [], log: String = log) throws -> String {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("corral-wording-\(UUID())")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("kern.log")
        try log.write(to: file, atomically: true, encoding: .utf8)
        var arguments = ["replay", file.path] + extra
        if extra.first == "attribute" {
            let policy = folder.appendingPathComponent("policy.yaml")
            try "suppressed-messages: attribute\n".write(to: policy, atomically: true, encoding: .utf8)
            arguments = ["replay", file.path, "--config", policy.path]
        }
        let (output, status) = try JSONContractTests.run(arguments)
        #expect(status == 0)
        return output
    }

    @Test func lowerBoundsAndMarksAreSaid() throws {
        let text = try Self.replay()
        #expect(!text.contains("storms found: 0"))
        #expect(!text.contains("(below every threshold)"))
        #expect(text.contains("Below every threshold in what the log shows; the kernel dropped 5,000 messages"))
        #expect(!text.contains("\n(kernel rate limiting)"), "a pseudo-subject is not a device section")
        #expect(text.contains("Lost to kernel rate limiting: 5,000 messages"))
        #expect(text.contains("suppressed-messages: attribute"))
        // No decision printed, so no legend to explain it.
        #expect(!text.contains("Marks:"))
    }

    @Test func attributedSuppressionLeadsToARecommendedContainment() throws {
        let text = try Self.replay(["attribute"])
        #expect(text.contains("storms found: 1"), "\(text)")
        #expect(text.contains("5,000 messages the kernel suppressed, attributed to the noisiest device"), "\(text)")
        #expect(text.contains("Marks: ? recommended"), "\(text)")
        // The other device printed one fault and is not the noisiest: untouched.
        let other =
            text.components(separatedBy: "0000:04:00.0").dropFirst().joined()
            .components(separatedBy: "\n\n").first ?? ""
        #expect(other.contains("Below every threshold") && !other.contains("?"), "\(other)")
        #expect(text.contains("They were held against the noisiest device on their IOMMU, rate included"))
    }
}
