import CorralTestSupport
import Foundation
import Logging
import Testing

@testable import CorralLinux

/// The daemon's swift-log backend: journald priorities, metadata, one record per line.
@Suite struct JournaldLogHandlerTests {
    final class Lines: @unchecked Sendable {
        let lock = NSLock()
        var lines: [String] = []
        func add(_ line: String) {
            lock.lock()
            lines.append(line)
            lock.unlock()
        }
    }

    @Test func prioritiesMetadataAndOneLinePerRecord() {
        let captured = Lines()
        var logger = Logger(label: "corral") { label in JournaldLogHandler(label: label, write: captured.add) }
        logger[metadataKey: "device"] = "0000:03:00.0"
        logger.warning("did clear bus master")
        logger.error("two\nlines", metadata: ["errno": "24", "why": "too many open files"])
        logger.debug("not shown at the default level")
        #expect(
            captured.lines == [
                "<4>corral: did clear bus master device=0000:03:00.0\n",
                "<3>corral: two lines device=0000:03:00.0 errno=24 why=\"too many open files\"\n",
            ])
    }
}
