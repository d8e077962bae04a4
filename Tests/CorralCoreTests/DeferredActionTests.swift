import Testing

@testable import CorralCore

/// An action the host could not carry out for a reason of its own (EMFILE, ENOMEM, EACCES) is
/// tried again, never escalated: the host's trouble is no evidence against the device.
@Suite struct DeferredActionTests {
    static let nic = Fixtures.nic
    static let emfile = ActionFailure(errno: 24, message: "Too many open files")

    @Test func aDeferredStepIsRetriedWithBackoffNotEscalated() {
        var h = EngineHarness(policy: .enforcing, profiles: [Fixtures.capable(Self.nic)])
        h.storm(Self.nic, count: 1_200)
        let first = h.performed.last!
        h.clear()
        h.complete(first, .deferred(Self.emfile))
        #expect(h.performed.isEmpty, "no new step")
        #expect(h.decisions.last?.reason.contains("trying again in 100ms (attempt 1)") == true)
        h.advance(by: .milliseconds(99))
        #expect(h.performed.isEmpty)
        h.advance(by: .milliseconds(1))
        #expect(h.performed == [first], "the same step again")
        // Deferred again: twice the wait.
        h.clear()
        h.complete(first, .deferred(Self.emfile))
        #expect(h.decisions.last?.reason.contains("trying again in 200ms (attempt 2)") == true)
        h.advance(by: .milliseconds(200))
        #expect(h.performed == [first])
        #expect(h.engine.statistics.deferredActions == 2)
        // Carried out at last: the ladder goes on from there as usual.
        h.clear()
        h.complete(first, .succeeded)
        #expect(h.state(Self.nic)?.isContained == true)
    }

    @Test func aFailureStillEscalates() {
        var h = EngineHarness(policy: .enforcing, profiles: [Fixtures.capable(Self.nic)])
        h.storm(Self.nic, count: 1_200)
        let first = h.performed.last!
        h.clear()
        h.complete(first, .failed(ActionFailure(errno: 5, message: "Input/output error")))
        #expect(h.performed.count == 1 && h.performed != [first], "the next rung")
    }

    @Test func hostSideErrnos() {
        for errno: Int32 in [24, 23, 12, 28, 13, 11, 4, 105, 30] { #expect(ActionFailure.isHostSide(errno)) }
        for errno: Int32 in [5, 19, 16, 1, 2, 110] { #expect(!ActionFailure.isHostSide(errno)) }
    }
}
