import CorralCore
import CorralDecode

/// Arm SMMUv2 / MMU-500 context fault reporting (reference §4.1–4.2): one fault syndrome per
/// context bank (FSR, FSYNR0, FAR, CBFRSYNRA); a second fault before software clears FSR only
/// sets FSR.MULTI and is lost. One context bank per stream here. Silencing is SCTLR.CFIE/CFRE
/// of the stream's context bank.
public struct SMMUv2Model: SimIOMMU {
    public let instance: IOMMUInstance
    public let vendor = IOMMUVendor.armSMMU
    public let silencingKnob = "SCTLR.CFIE/CFRE"
    private var banks: [UInt32: [UInt8]] = [:]
    private var order: [UInt32] = []
    private var multi = false
    private var silencedStreams: Set<UInt32> = []

    public init(instance: IOMMUInstance = IOMMUInstance("5040000.smmu")) {
        self.instance = instance
    }

    public var pending: Int { banks.count }
    public var capacity: Int { 1 }

    public mutating func record(_ fault: SimFault) -> RecordResult {
        let stream = fault.streamID?.rawValue ?? UInt32(fault.requesterID?.rawValue ?? 0)
        if silencedStreams.contains(stream) { return .silenced }
        guard banks[stream] == nil else {
            multi = true
            return .lost
        }
        // TF (translation) for unmapped addresses, PF (permission) otherwise; Format=2.
        let permission = fault.lookup != .notPresent && fault.lookup != .addressSize
        let fsr: UInt32 = (permission ? 0x8 : 0x2) | 0x400
        let record = SMMUv2ContextFault(
            fsr: fsr, fsynr0: fault.write ? 0x10 : 0, far: fault.address, cbfrsynra: stream)
        banks[stream] = record.bytes
        order.append(stream)
        return .recorded
    }

    public mutating func drain() -> [DeviceEvent] {
        defer {
            banks.removeAll()
            order.removeAll()
        }
        return order.compactMap { stream in
            guard let bytes = banks[stream], let fault = try? SMMUv2ContextFault(bytes: bytes) else { return nil }
            // The driver maps the context bank back to its stream (the SMR the kernel set up).
            return fault.deviceEvent(iommu: instance, stream: StreamID(stream))
        }
    }

    public mutating func takeOverflow() -> Bool {
        defer { multi = false }
        return multi
    }

    public mutating func setSilenced(requesterID: RequesterID?, streamID: StreamID?, _ silenced: Bool) {
        let stream = streamID?.rawValue ?? UInt32(requesterID?.rawValue ?? 0)
        if silenced { silencedStreams.insert(stream) } else { silencedStreams.remove(stream) }
    }
}
