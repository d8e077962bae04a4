import CorralCore
import CorralTestSupport
import Foundation
import Testing

@testable import CorralStore

/// Names next to addresses (issue 17): vendor and device from a `pci.ids` file as `lspci`
/// reads it, class, driver, slot and serial from the inventory the daemon journaled.
@Suite struct DeviceNamesTests {
    static let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/pci-ids/pci.ids").path

    @Test func pciIDsKeepsOnlyTheNamesAskedFor() throws {
        let text = try #require(FileManager.default.contents(atPath: Self.fixture))
        let ids = PCIIDs(
            parsing: text,
            wanted: [
                .init(vendor: 0x8086, device: 0x10fb), .init(vendor: 0x1002, device: 0x73bf),
                .init(vendor: 0xabcd, device: 0x1200),
            ])
        #expect(
            ids.name(vendor: 0x8086, device: 0x10fb)
                == "Intel Corporation 82599ES 10-Gigabit SFI/SFP+ Network Connection")
        #expect(
            ids.name(vendor: 0x1002, device: 0x73bf)
                == "Advanced Micro Devices, Inc. [AMD/ATI] Navi 21 [Radeon RX 6800/6800 XT / 6900 XT]")
        // Not asked for: not kept. A subsystem line is not a device of its vendor.
        #expect(ids.devices[.init(vendor: 0x8086, device: 0x1234)] == nil)
        #expect(ids.vendors[0x144d] == nil && ids.devices.count == 2)
        // A damaged vendor: its name, no device from the lines that do not fit.
        #expect(ids.name(vendor: 0xabcd, device: 0x1200) == "Damaged Vendor")
        // The class section is not a vendor: `C 03` never becomes one.
        #expect(ids.vendors.count == 3)
    }

    /// CR LF line ends, a name with control bytes (refused, never printed), blanks around.
    @Test func pciIDsSurvivesMangledFiles() {
        let text = Array("8086  Intel Corporation \r\n\t10fb  X520\r\n\t10fc  bad\u{1B}[31m name\r\n".utf8)
        let ids = PCIIDs(
            parsing: text, wanted: [.init(vendor: 0x8086, device: 0x10fb), .init(vendor: 0x8086, device: 0x10fc)])
        #expect(ids.name(vendor: 0x8086, device: 0x10fb) == "Intel Corporation X520")
        #expect(ids.name(vendor: 0x8086, device: 0x10fc) == "Intel Corporation")
    }

    static func journal(_ name: String) throws -> Journal {
        let journal = try Journal(path: temporaryJournalPath(name))
        let run = try journal.run(kind: "daemon", name: "boot", startedUTC: 0, clock: .host)
        var writer = JournalWriter(journal: journal, run: run)
        writer.record(
            devices: [
                DeviceIdentity(
                    address: "0000:03:00.0", vendorID: 0x8086, deviceID: 0x10fb, classCode: 0x020000,
                    serial: "00-1b-21-ff-fe-8a-10-00", slot: "3", driver: "ixgbe"),
                DeviceIdentity(address: "0000:07:00.0", vendorID: 0x144d, deviceID: 0xa808, classCode: 0x010802),
            ], atUTC: 5)
        writer.observe(Observation(subject: "0000:03:00.0", eventClass: "dma-fault", at: 1))
        writer.observe(Observation(subject: "0000:07:00.0", eventClass: "dma-fault", at: 1))
        let written = writer.flush(at: 1)
        #expect(written)
        return journal
    }

    @Test func statusNamesEveryDeviceAndIDsWithoutPCIIDs() throws {
        let journal = try Self.journal("names")
        let named = try DeviceNames.load(journal, pciIDsPaths: ["/nonexistent/pci.ids", Self.fixture])
        #expect(named.pciIDsPath == Self.fixture)
        #expect(
            named.describe("0000:03:00.0")
                == "Intel Corporation 82599ES 10-Gigabit SFI/SFP+ Network Connection · network controller · driver ixgbe · slot 3 · serial 00-1b-21-ff-fe-8a-10-00"
        )
        #expect(
            named.describe("0000:07:00.0")
                == "Samsung Electronics Co Ltd NVMe SSD Controller SM981/PM981/PM983 · NVMe storage controller · no driver"
        )
        let table = StatusTable.render(
            try journal.deviceSummaries(), pending: [], protected: [:], path: journal.path, names: named)
        #expect(table.contains("what it is") && table.contains("82599ES"), "\(table)")
        // No pci.ids on this machine: the IDs, as `lspci -n` prints them.
        let bare = try DeviceNames.load(journal, pciIDsPaths: ["/nonexistent/pci.ids"])
        #expect(bare.model("0000:03:00.0") == "8086:10fb")
        // The JSON form, valid against the schema.
        let document = try journal.statusDocument(names: named)
        let identity = try #require(document.devices.first { $0.device == "0000:03:00.0" }?.identity)
        #expect(
            identity.vendorID == "8086" && identity.classCode == "020000" && identity.className == "network controller")
        let data = try JSONEncoder().encode(document)
        let schema = try JSONSchema(
            String(
                contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                    .deletingLastPathComponent().appendingPathComponent("docs/corral.schema.json"), encoding: .utf8))
        #expect(
            schema.errors(try JSONValue.parse(String(decoding: data, as: UTF8.self)), against: "status-document")
                .isEmpty)
    }

    /// The writer journals the inventory again only when it changed, and a changed device only.
    @Test func inventoryIsJournaledWhenItChanges() throws {
        let journal = try Self.journal("names-change")
        let run = try journal.run(kind: "daemon", name: "boot", startedUTC: 0, clock: .host)
        var writer = JournalWriter(journal: journal, run: run)
        let nic = DeviceIdentity(address: "0000:03:00.0", vendorID: 0x8086, deviceID: 0x10fb, driver: "ixgbe")
        writer.record(devices: [nic], atUTC: 1)
        #expect(writer.pendingDeviceRows == 1)
        writer.flush(at: 1)
        writer.record(devices: [nic], atUTC: 2)
        #expect(writer.pendingDeviceRows == 0)
        var unbound = nic
        unbound.driver = nil
        writer.record(devices: [unbound], atUTC: 3)
        #expect(writer.pendingDeviceRows == 1)
        writer.flush(at: 3)
        #expect(try journal.deviceIdentities()["0000:03:00.0"]?.driver == nil)
    }
}

/// Text from a device reaches a terminal without its escapes (issue 17's names, adversarially).
@Suite struct TerminalTextTests {
    @Test func controlCharactersAreShownNotSent() {
        #expect(TerminalText.safe("S4EVNF0M900001") == "S4EVNF0M900001")
        #expect(TerminalText.safe("bad\u{1B}]0;owned\u{07}serial") == "bad\\u{1b}]0;owned\\u{7}serial")
        #expect(TerminalText.safe("x\u{9B}2Jy\u{7F}") == "x\\u{9b}2Jy\\u{7f}")
        #expect(TerminalText.safe("élan · 3") == "élan · 3")
        let nvme = DeviceIdentity(address: "0000:04:00.0", serial: "nvme-\u{1B}[2J", driver: "nvme")
        let names = DeviceNames(identities: ["0000:04:00.0": nvme])
        #expect(names.describe("0000:04:00.0") == "driver nvme · serial nvme-\\u{1b}[2J")
        let table = TextTable.lines([["a\u{1B}[31m", "b"]])
        #expect(!table[0].contains("\u{1B}"))
    }
}
