import CorralCore
import Testing

@testable import CorralDecode

/// Hand-checked vectors (each the raw record behind a corpus log line, built from the layouts in
/// reference/kernel-anchors.md §1.4, §2.2, §3.2, §4.2), truncation and reserved bits, and
/// encode→decode round trips over random field values for every vendor.
@Suite struct VendorRecordTests {
    // MARK: - Hand-checked vectors

    @Test func vtdRecordOfCorpus01() throws {
        // `[DMA Read] Request device [00:02.0] ... fault addr 9c000000 [fault reason 06]`:
        // SID 0x0010, FR 6 (bits 103:96), T1 (bit 126) = read, F (bit 127).
        let record = try VTdFaultRecord.parse(hex: ["0x9c000000", "0xc000000600000010"])
        #expect(record.source == RequesterID(rawValue: 0x0010))
        #expect(record.reason == VTdFaultReason(6) && record.reason.text == "PTE Read access is not set")
        #expect(record.requestType == .read && record.fault && !record.pasidPresent)
        let event = record.event
        #expect(event.kind == .dmaFault && event.device?.description == "0000:00:02.0")
        #expect(event.address == IOVA(0x9c00_0000) && event.access == .read && event.reason == 6)
    }

    @Test func vtdInterruptRemapReasonMakesAnInterruptRemapFault() {
        let record = VTdFaultRecord(
            faultInfo: 0x0640_0000_0000_0000, source: RequesterID(rawValue: 0x4202), requestType: .write,
            reason: VTdFaultReason(0x25))
        #expect(record.interruptIndex == 0x640)
        #expect(record.event.kind == .interruptRemapFault && record.event.address == nil)
        #expect(record.event.device?.description == "0000:42:00.2")
    }

    @Test func vtdReasonTables() {
        #expect(VTdFaultReason(0x0D).text == "PCE for translation request specifies blocking")
        #expect(VTdFaultReason(0x26).table == .interruptRemapping)
        #expect(VTdFaultReason(0x39).text == "SM: Present bit in Root Entry is clear")
        #expect(VTdFaultReason(0x33).text == "Unknown" && VTdFaultReason(0x33).table == .scalableMode)
        #expect(VTdFaultReason(0x90).text == "SM: A/D bit update needed in first-level entry when set up in no snoop")
        #expect(VTdFaultReason(0x0E).table == .unknown && VTdFaultReason(0xFF).text == "Unknown")
        // `table` reads the sizes as constants: they must be the tables'.
        #expect(Int(VTdFaultReason.dmaRemappingCount) == VTdFaultReason.dmaRemapping.count)
        #expect(Int(VTdFaultReason.interruptRemappingCount) == VTdFaultReason.interruptRemapping.count)
        #expect(Int(VTdFaultReason.scalableModeCount) == VTdFaultReason.scalableMode.count)
    }

    @Test func vtdFaultStatus() throws {
        let status = try VTdFaultStatus.parse(hex: ["0x00000103"])
        #expect(status.primaryFaultOverflow && status.primaryPendingFault && status.faultRecordIndex == 1)
        #expect(status.event.kind == .queueOverflow)
        #expect(throws: DecodeError.self) { try VTdFaultStatus.parse(hex: ["0x00010000"]) }
    }

    @Test func amdRecordOfCorpus16() throws {
        // `IO_PAGE_FAULT device=05:00.0 domain=0x0012 address=0xff6101b0 flags=0x0070`.
        let record = try AMDViEventRecord.parse(hex: ["0x00000500", "0x20700012", "0xff6101b0", "0x0"])
        #expect(record.code == .ioPageFault && record.deviceID == RequesterID(rawValue: 0x0500))
        #expect(record.domainOrPASID == 0x12 && record.flags == [.present, .write, .permission])
        let event = record.event
        #expect(event.kind == .dmaFault && event.access == .write && event.device?.description == "0000:05:00.0")
        #expect(event.address == IOVA(0xff61_01b0) && event.reason == 2)
        // RW clear is a read (the opposite polarity of nothing else: AMD's bit says write).
        let read = AMDViEventRecord(code: .ioPageFault, deviceID: RequesterID(rawValue: 0x100), flags: [], address: 0)
        #expect(read.event.access == .read)
    }

    @Test func smmuv3RecordOfCorpus36() throws {
        // `event 0x10 received:` + the four words; the 6.15 decode says `sid: 0x100`,
        // `unpriv data write s1 "Input address caused fault"`.
        let record = try SMMUv3EventRecord.parse(hex: [
            "0x0000010000000010", "0x0000020000000000", "0x000000090000f040", "0x0000000000000000",
        ])
        #expect(record.id == 0x10 && record.streamID == StreamID(0x100) && record.substreamID == nil)
        #expect(!record.readNotWrite && !record.privileged && !record.instruction && !record.stage2)
        #expect(record.eventClass == 2 && record.inputAddress == 0x9_0000_f040)
        #expect(record.event.kind == .dmaFault && record.event.access == .write)
        let config = try SMMUv3EventRecord.parse(hex: ["0x0000001000000002", "0x0", "0x0", "0x0"])
        #expect(config.event.kind == .iommuError && config.event.address == nil)
    }

    @Test func smmuv2RegistersOfCorpus28() throws {
        // `fsr=0x402, iova=0x9c4b9000, fsynr=0x7c0020, cbfrsynra=0x800`: TF, Format=2, WNR clear.
        let record = try SMMUv2ContextFault.parse(hex: ["0x402", "0x7c0020", "0x9c4b9000", "0x800"])
        #expect(SMMUv2ContextFault.describe(fsr: record.fsr) == "TF")
        #expect(!record.write && record.event.access == .read && record.event.reason == 0x402)
        #expect(record.event.address == IOVA(0x9c4b_9000))
    }

    @Test func bytesInMemoryOrderEqualWords() throws {
        let words = try AMDViEventRecord.parse(hex: ["0x00000500", "0x20700012", "0xff6101b0", "0x0"])
        let bytes = try AMDViEventRecord.parse(hex: ["00050000 12007020 b00161ff 00000000"])
        #expect(words == bytes)
    }

    // MARK: - Errors, never traps

    @Test func truncatedAndOversizedInputAreErrors() {
        for count in [0, 1, 15] {
            #expect(throws: DecodeError.truncated(record: VTdFaultRecord.recordName, expected: 16, got: count)) {
                try VTdFaultRecord(bytes: [UInt8](repeating: 0, count: count))
            }
        }
        #expect(throws: DecodeError.truncated(record: SMMUv3EventRecord.recordName, expected: 32, got: 31)) {
            try SMMUv3EventRecord(bytes: [UInt8](repeating: 0x10, count: 31))
        }
        #expect(throws: DecodeError.oversized(record: AMDViEventRecord.recordName, expected: 16, got: 17)) {
            try AMDViEventRecord(bytes: [UInt8](repeating: 0, count: 17))
        }
        #expect(throws: DecodeError.self) { try SMMUv2ContextFault.parse(hex: ["0x402", "0x0", "0x0"]) }
        #expect(throws: DecodeError.badHex("0xzz")) { try SMMUv2ContextFault.parse(hex: ["0xzz", "0", "0", "0"]) }
    }

    @Test func reservedBitsAndUndefinedCodesAreErrors() {
        var vtd = VTdFaultRecord(
            faultInfo: 0x1000, source: RequesterID(rawValue: 1), requestType: .read, reason: VTdFaultReason(5)
        ).bytes
        vtd[0] = 0x01  // bit 0: reserved
        #expect(throws: DecodeError.self) { try VTdFaultRecord(bytes: vtd) }
        #expect(
            throws: DecodeError.undefinedCode(
                record: AMDViEventRecord.recordName, field: "event code (bits 63:60)", value: 0)
        ) {
            try AMDViEventRecord(bytes: [UInt8](repeating: 0, count: 16))
        }
        // IO_PAGE_FAULT with reserved bit 59 set.
        #expect(throws: DecodeError.self) { try AMDViEventRecord.parse(hex: ["0x0", "0x28000000", "0x0", "0x0"]) }
        #expect(throws: DecodeError.self) { try SMMUv3EventRecord(bytes: [UInt8](repeating: 0, count: 32)) }
        #expect(throws: DecodeError.self) { try SMMUv2ContextFault.parse(hex: ["0x403", "0x0", "0x0", "0x0"]) }
        let message = DecodeError.reservedBitsSet(record: "r", field: "FSR", mask: 0xF, value: 0x13).description
        #expect(message == "r: reserved bits set in FSR: 0x3 (reserved mask 0xf)")
    }

    // MARK: - Round trips over random fields

    static let seeds: [UInt64] = [1, 2, 3, 0xC0FFEE]

    @Test(arguments: seeds) func vtdRoundTrip(_ seed: UInt64) throws {
        var random = SplitMix64(seed: seed)
        for _ in 0..<2_000 {
            let record = VTdFaultRecord(
                faultInfo: random.next(), source: RequesterID(rawValue: UInt16(truncatingIfNeeded: random.next())),
                requestType: VTdFaultRecord.RequestType.allCases[Int(random.next() % 4)],
                reason: VTdFaultReason(UInt8(truncatingIfNeeded: random.next())),
                privilegeMode: random.next() % 2 == 0, execute: random.next() % 2 == 0,
                pasid: random.next() % 2 == 0 ? UInt32(truncatingIfNeeded: random.next()) : nil,
                addressType: UInt8(truncatingIfNeeded: random.next()), fault: random.next() % 2 == 0)
            let decoded = try VTdFaultRecord(bytes: record.bytes)
            #expect(decoded == record)
            #expect(decoded.bytes == record.bytes)
        }
    }

    @Test(arguments: seeds) func amdRoundTrip(_ seed: UInt64) throws {
        var random = SplitMix64(seed: seed)
        for _ in 0..<2_000 {
            let code = AMDViEventCode.allCases[Int(random.next() % UInt64(AMDViEventCode.allCases.count))]
            var record = AMDViEventRecord(
                code: code, deviceID: RequesterID(rawValue: UInt16(truncatingIfNeeded: random.next())),
                domainOrPASID: UInt32(truncatingIfNeeded: random.next()),
                flags: .init(rawValue: UInt16(truncatingIfNeeded: random.next())), address: random.next())
            // Keep to what the code's layout defines (reserved bits must stay zero).
            let (mask0, mask1) = AMDViEventRecord.reserved(code)
            var bytes = record.bytes
            for index in 0..<4 {
                bytes[index] &= ~UInt8(truncatingIfNeeded: mask0 >> (8 * UInt32(index)))
                bytes[4 + index] &= ~UInt8(truncatingIfNeeded: mask1 >> (8 * UInt32(index)))
            }
            record = try AMDViEventRecord(bytes: bytes)
            let decoded = try AMDViEventRecord(bytes: record.bytes)
            #expect(decoded == record)
            #expect(decoded.bytes == bytes)
        }
    }

    @Test(arguments: seeds) func smmuv3RoundTrip(_ seed: UInt64) throws {
        var random = SplitMix64(seed: seed)
        let ids = SMMUv3EventID.allCases.map(\.rawValue)
        for _ in 0..<2_000 {
            let read = random.next() % 2 == 0
            let stream = StreamID(UInt32(truncatingIfNeeded: random.next()))
            let ssid: UInt32? = random.next() % 2 == 0 ? UInt32(random.next() % (1 << 20)) : nil
            let address = random.next()
            let record = SMMUv3EventRecord(
                id: ids[Int(random.next() % UInt64(ids.count))], streamID: stream, substreamID: ssid,
                readNotWrite: read, privileged: random.next() % 2 == 0, instruction: random.next() % 2 == 0,
                stage2: random.next() % 2 == 0, eventClass: UInt8(random.next() % 4), stalled: random.next() % 2 == 0,
                stallTag: UInt16(truncatingIfNeeded: random.next()), inputAddress: address, ipa: random.next())
            let decoded = try SMMUv3EventRecord(bytes: record.bytes)
            #expect(decoded == record)
            #expect(decoded.streamID == stream && decoded.substreamID == ssid && decoded.readNotWrite == read)
            #expect(decoded.inputAddress == address)
        }
    }

    @Test(arguments: seeds) func smmuv2RoundTrip(_ seed: UInt64) throws {
        var random = SplitMix64(seed: seed)
        for _ in 0..<2_000 {
            let record = SMMUv2ContextFault(
                fsr: UInt32(truncatingIfNeeded: random.next()), fsynr0: UInt32(truncatingIfNeeded: random.next()),
                far: random.next(), cbfrsynra: UInt32(truncatingIfNeeded: random.next()))
            let decoded = try SMMUv2ContextFault(bytes: record.bytes)
            #expect(decoded == record)
            #expect(decoded.event.access == (record.fsynr0 & 0x10 != 0 ? .write : .read))
        }
    }

    /// FSYNR0's flags by the kernel's names, NSATTR among them (shown, not interpreted).
    @Test func smmuv2SyndromeFlagsAreNamed() {
        let fault = SMMUv2ContextFault(fsr: 0x402, fsynr0: 0x0017_0D31, far: 0x1000, cbfrsynra: 0xC88)
        let syndrome = fault.fields.first { $0.name == "FSYNR0" }?.value
        #expect(syndrome == "0x00170d31 [write PLVL=1 S1CBNDX=23 PNU NSATTR PTWF AFR]")
        let plain = SMMUv2ContextFault(fsr: 0x402, fsynr0: 0x21, far: 0x1000, cbfrsynra: 0)
        #expect(plain.fields.first { $0.name == "FSYNR0" }?.value == "0x00000021 [read PLVL=1 S1CBNDX=0 PNU]")
        #expect(fault.event.kind == plain.event.kind, "NSATTR changes no kind")
    }

    /// Every vendor's record decodes arbitrary bytes to a record or a DecodeError, never a trap.
    @Test func arbitraryBytesNeverTrap() {
        var random = SplitMix64(seed: 7)
        var decoded = 0
        for _ in 0..<20_000 {
            let count = Int(random.next() % 40)
            let bytes = (0..<count).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            if (try? VTdFaultRecord(bytes: bytes)) != nil { decoded += 1 }
            if (try? AMDViEventRecord(bytes: bytes)) != nil { decoded += 1 }
            if (try? SMMUv3EventRecord(bytes: bytes)) != nil { decoded += 1 }
            if (try? SMMUv2ContextFault(bytes: bytes)) != nil { decoded += 1 }
            if (try? VTdFaultStatus(bytes: bytes)) != nil { decoded += 1 }
        }
        #expect(decoded > 0)
    }
}

/// The hot vendors build the engine's event straight from the record
/// (`VendorRecord.deviceEvent(iommu:)`); it must be exactly what the normalized `LogEvent` path
/// gives, for every record that decodes, with and without the IOMMU unit known.
@Suite struct DirectDeviceEventTests {
    static let unit = IOMMUInstance("smmu0")

    /// Random records of `R` that decode (`prepare` clears bits that would only make most of
    /// them fail on reserved fields); returns how many were compared.
    static func compare<R: VendorRecord>(_: R.Type, prepare: (inout [UInt8]) -> Void = { _ in }) -> Int {
        var random = SplitMix64(seed: 11)
        var compared = 0
        for _ in 0..<20_000 {
            var bytes = (0..<R.byteCount).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            prepare(&bytes)
            guard let record = try? R(bytes: bytes) else { continue }
            for iommu in [nil, unit] {
                let direct = record.deviceEvent(iommu: iommu)
                let reference = record.deviceEventViaLogEvent(iommu: iommu)
                #expect(direct == reference, "\(R.recordName) \(bytes): \(String(describing: direct))")
            }
            compared += 1
        }
        return compared
    }

    @Test func vtdDirectEqualsTheLogEventPath() {
        let compared = Self.compare(VTdFaultRecord.self) { bytes in
            bytes[0] = 0
            bytes[1] &= 0xF0  // bits 11:0 reserved
            bytes[10] = 0
            bytes[11] &= 0xF0  // bits 91:80 reserved
            bytes[12] = [1, 2, 5, 6, 0x20, 0x26][Int(bytes[13]) % 6]  // defined reasons, both tables
        }
        #expect(compared > 1_000)
    }

    @Test func amdViDirectEqualsTheLogEventPath() {
        let compared = Self.compare(AMDViEventRecord.self) { bytes in
            bytes[7] = (bytes[7] & 0x0F) | (bytes[8] % 3 == 0 ? 0x20 : bytes[7] & 0xF0)  // many IO_PAGE_FAULTs
        }
        #expect(compared > 1_000)
    }

    @Test func smmuv3DirectEqualsTheLogEventPath() {
        let compared = Self.compare(SMMUv3EventRecord.self) { bytes in
            bytes[0] = [0x10, 0x11, 0x12, 0x13, 0x02, 0x07][Int(bytes[1]) % 6]
        }
        #expect(compared > 1_000)
    }

    @Test func smmuv2FallsBackToTheLogEventPath() {
        let compared = Self.compare(SMMUv2ContextFault.self) { bytes in
            // FSR reserved bits 0 and 29:11.
            bytes[0] &= 0xFE
            bytes[1] &= 0x07
            bytes[2] = 0
            bytes[3] &= 0xC0
        }
        #expect(compared > 1_000)
        // With the context bank's stream (known to whoever reads the bank): the direct path.
        var random = SplitMix64(seed: 5)
        for _ in 0..<1_000 {
            let fsr = UInt32(truncatingIfNeeded: random.next()) & ~SMMUv2ContextFault.fsrReserved
            let record = SMMUv2ContextFault(
                fsr: fsr, fsynr0: UInt32(truncatingIfNeeded: random.next()), far: random.next(), cbfrsynra: 0x800)
            var event = record.event
            event.iommu = Self.unit
            event.streamID = StreamID(0x42)
            #expect(record.deviceEvent(iommu: Self.unit, stream: StreamID(0x42)) == event.deviceEvent)
        }
    }
}
