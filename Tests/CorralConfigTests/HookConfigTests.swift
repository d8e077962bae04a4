import CorralCore
import Testing

@testable import CorralConfig

@Suite struct HookConfigTests {
    @Test func hooksParseAndRoundTrip() throws {
        let text = """
            hooks:
              on-containment: [/usr/local/bin/page, --severity, warning]
              on-retirement: [/usr/local/bin/ticket]
              timeout: 3s
              max-concurrent: 2
            """
        let policy = try PolicyFile.parse(text)
        #expect(policy.hooks.commands[.containment] == ["/usr/local/bin/page", "--severity", "warning"])
        #expect(policy.hooks.commands[.retirement] == ["/usr/local/bin/ticket"])
        #expect(policy.hooks.timeout == .seconds(3) && policy.hooks.maxConcurrent == 2)
        #expect(try PolicyFile.parse(PolicyFile.render(policy)) == policy)
    }

    @Test func relativeProgramIsRefused() {
        #expect(throws: ConfigFileError.self) { try PolicyFile.parse("hooks:\n  on-containment: [notify-send]\n") }
        do {
            _ = try PolicyFile.parse("hooks:\n  on-containment: [notify-send]\n", file: "p.yaml")
        } catch {
            #expect(
                error.description
                    == "p.yaml:2:19: hooks.on-containment: 'notify-send' must be an absolute path (hooks run without a shell or PATH)"
            )
        }
    }
}
