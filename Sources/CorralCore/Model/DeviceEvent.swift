/// Something that happened to a device, in the past tense: the engine's only input.
///
/// Decoders (log lines, raw vendor records), the Linux host (sysfs, uevents, `/proc`) and the
/// simulator all produce these; nothing vendor-specific survives past this type except the raw
/// code kept for reports.
public enum DeviceEvent: Hashable, Sendable {
    /// A DMA remapping fault: a translation the IOMMU refused.
    case dmaFault(DMAFault)
    /// An interrupt-remapping fault (VT-d reasons 0x20–0x26, AMD-Vi `I` flag).
    case interruptRemapFault(InterruptRemapFault)
    /// An error of the IOMMU itself or its tables: invalidation timeout, bad device-table entry…
    case iommuError(IOMMUError)
    /// A fault queue overflowed (VT-d PFO, AMD-Vi event log overflow, SMMUv3 EVTQ overflow):
    /// faults of *any* device on that unit were lost.
    case queueOverflowed(QueueOverflow)
    /// The kernel's printk ratelimit dropped messages (`dmar_fault: N callbacks suppressed`).
    case messagesSuppressed(SuppressedMessages)
    /// A PCIe Advanced Error Reporting error.
    case aerError(AERError)
    /// Downstream Port Containment triggered: the port took its link down.
    case dpcContained(DPCContainment)
    /// A hot-plug port's link went down or came up.
    case linkChanged(port: PCIAddress, up: Bool)
    /// A hot-plug slot's presence detect changed (card pulled or inserted).
    case presenceChanged(port: PCIAddress, present: Bool)
    /// A device driver reported that its device is gone (NVMe `CSTS=0xffffffff`, `-ENODEV`).
    case deviceLost(DeviceAddress)
    /// An interrupt line or vector fired far above its normal rate, or the kernel disabled it
    /// (`irq N: nobody cared`).
    case irqStorm(IRQStorm)
    /// A device's own interrupt vectors (MSI/MSI-X) fire far above their normal rate while its
    /// driver handles every one: the kernel sees nothing wrong (it only catches unhandled ones),
    /// but a CPU is spent on it. One event per sample above the rate (host sampling).
    case interruptFlood(InterruptFlood)
    /// A device appeared (boot enumeration, hot add, rescan). `serial` lets a re-inserted device
    /// keep its history.
    case deviceAdded(DeviceAddress, serial: SerialNumber?)
    /// A device was removed from the kernel's view.
    case deviceRemoved(DeviceAddress)
    /// A driver bound to the device (a rebind after containment is a re-enable trigger).
    case driverBound(DeviceAddress, driver: DriverName)
    /// The device's driver unbound.
    case driverUnbound(DeviceAddress, driver: DriverName)
    /// Bus Master Enable (command register bit 2) changed. A driver setting it again after
    /// Corral cleared it is the driver's re-initialisation, a re-enable trigger.
    case busMasterChanged(DeviceAddress, enabled: Bool)
    /// The device (`pci_enable_device`) was enabled by its driver.
    case deviceEnabled(DeviceAddress)
    /// The device's owner (a VMM behind `vfio-pci`) acknowledged a notification and acted.
    case ownerResponded(DeviceAddress)
    /// A host finished carrying out an action, successfully or not.
    case actionCompleted(ActionOutcome)
    /// An operator released the device (`corral release`).
    case operatorReleased(DeviceAddress, by: String)
}

/// The event classes that have their own storm threshold.
public enum EventClass: String, Hashable, Sendable, CaseIterable, CustomStringConvertible {
    case dmaFault = "dma-fault"
    case interruptRemapFault = "interrupt-remap-fault"
    case iommuError = "iommu-error"
    case queueOverflow = "queue-overflow"
    case aerCorrected = "aer-corrected"
    case aerNonFatal = "aer-nonfatal"
    case aerFatal = "aer-fatal"
    case dpc = "dpc"
    case irqStorm = "irq-storm"
    case interruptFlood = "interrupt-flood"

    public var description: String { rawValue }

    /// Whether the kernel logs this class under a printk ratelimit (the elevated threshold's
    /// origin): interrupt floods and storms are counted from `/proc`, not read from the log.
    public var isLogged: Bool { self != .interruptFlood && self != .irqStorm }

    /// Dense index for per-class arrays (O(1), no hashing on the per-event path).
    public var index: Int {
        switch self {
        case .dmaFault: 0
        case .interruptRemapFault: 1
        case .iommuError: 2
        case .queueOverflow: 3
        case .aerCorrected: 4
        case .aerNonFatal: 5
        case .aerFatal: 6
        case .dpc: 7
        case .irqStorm: 8
        case .interruptFlood: 9
        }
    }
}

/// One value per `EventClass`, inline, indexed by `EventClass.index`. The size is the number
/// of classes written out, as a type's size must be (`ModelTests` holds it to `allCases`).
typealias PerEventClass<Element> = InlineArray<10, Element>

/// How an IOMMU names the master that caused a fault, before alias resolution.
public enum FaultSource: Hashable, Sendable, CustomStringConvertible {
    /// Who the journal files the fault under, as named (a requester ID as its PCI function,
    /// before any alias resolution).
    public var subject: Subject {
        switch self {
        case .device(let device): .device(device)
        case .requester(let segment, let rid): .device(.pci(PCIAddress(segment: segment, requesterID: rid)))
        case .stream(let stream): .device(.stream(stream))
        }
    }

    /// The log or record already names a device.
    case device(DeviceAddress)
    /// A PCI requester ID within a segment (VT-d SID, AMD-Vi DeviceID): may be a DMA alias.
    case requester(segment: UInt32, RequesterID)
    /// An SMMU stream.
    case stream(SMMUStream)

    public var description: String {
        switch self {
        case .device(let device): device.description
        case .requester(let segment, let rid): "\(Hex.padded(segment, width: 4)):\(rid)"
        case .stream(let stream): stream.description
        }
    }
}

/// What kind of translation failure, vendor-neutral (reference §11.1).
public enum DMAFaultKind: String, Hashable, Sendable, CaseIterable, CustomStringConvertible {
    /// No mapping: not-present PTE, root/context entry clear, SMMU F_TRANSLATION, AMD PR=0.
    case notPresent = "not-present"
    /// Write through a read-only mapping (VT-d reason 0x05, SMMU F_PERMISSION with write).
    case writeToReadOnly = "write-to-read-only"
    /// Read through a write-only mapping (VT-d reason 0x06).
    case readFromWriteOnly = "read-from-write-only"
    /// Instruction fetch through a no-execute mapping (AMD NX, SMMU InD).
    case execute = "execute"
    /// A secure access to a non-secure mapping (SMMU NSATTR / secure stream).
    case secureOnNonSecure = "secure-on-non-secure"
    /// Address beyond the supported width (VT-d 0x04, SMMU F_ADDR_SIZE).
    case addressSize = "address-size"
    /// Broken translation structures (bad context/STE/CD, table walk abort, reserved bits).
    case configuration = "configuration"
    /// An access-flag fault (SMMU F_ACCESS, AFF).
    case accessFlag = "access-flag"
    /// A page request (ATS/PRI, SMMU stall): usually recoverable, normal for SVA devices.
    case pageRequest = "page-request"
    /// Anything the decoder could not classify; `rawCode` says what it was.
    case other = "other"

    public var description: String { rawValue }
}

/// The access a faulting transaction made. Mind the polarities when decoding: VT-d T=1 is a
/// read, AMD-Vi RW=1 a write, SMMU RnW=1 a read.
public enum DMAAccess: String, Hashable, Sendable, CustomStringConvertible {
    case read, write
    public var description: String { rawValue }
}

/// One DMA fault, or `count` coalesced identical ones.
public struct DMAFault: Hashable, Sendable {
    public var source: FaultSource
    public var vendor: IOMMUVendor
    /// The IOMMU unit that reported it, when known (`dmar0`, `5040000.smmu`).
    public var iommu: IOMMUInstance?
    public var kind: DMAFaultKind
    public var access: DMAAccess?
    public var address: IOVA?
    public var pasid: PASID?
    /// A fault the device expects and recovers from (PRI page request, stalled transaction
    /// with a handler). Not an error: it never counts toward a storm.
    public var recoverable: Bool
    /// The vendor's code: VT-d fault reason, AMD-Vi event code, SMMUv3 event ID, SMMUv2 FSR.
    public var rawCode: UInt32
    /// How many faults this event stands for (≥ 1).
    public var count: UInt64

    /// Inlinable: decoders build one per record, and called across modules the new value came
    /// back through memory that was read before the stores finished (≈ 10 ns per record).
    @inlinable
    public init(
        source: FaultSource, vendor: IOMMUVendor, iommu: IOMMUInstance? = nil, kind: DMAFaultKind,
        access: DMAAccess? = nil, address: IOVA? = nil, pasid: PASID? = nil, recoverable: Bool = false,
        rawCode: UInt32 = 0, count: UInt64 = 1
    ) {
        self.source = source
        self.vendor = vendor
        self.iommu = iommu
        self.kind = kind
        self.access = access
        self.address = address
        self.pasid = pasid
        self.recoverable = recoverable
        self.rawCode = rawCode
        self.count = count
    }
}

/// An interrupt-remapping fault: the device sent an interrupt the remapping table refused.
public struct InterruptRemapFault: Hashable, Sendable {
    public var source: FaultSource
    public var vendor: IOMMUVendor
    public var iommu: IOMMUInstance?
    /// Interrupt index (VT-d FI bits 63:48).
    public var index: UInt16?
    public var rawCode: UInt32
    public var count: UInt64

    @inlinable
    public init(
        source: FaultSource, vendor: IOMMUVendor, iommu: IOMMUInstance? = nil, index: UInt16? = nil,
        rawCode: UInt32 = 0, count: UInt64 = 1
    ) {
        self.source = source
        self.vendor = vendor
        self.iommu = iommu
        self.index = index
        self.rawCode = rawCode
        self.count = count
    }
}

/// An error of the IOMMU or its configuration rather than a device's access.
public struct IOMMUError: Hashable, Sendable {
    public enum Kind: String, Hashable, Sendable, CustomStringConvertible {
        case invalidationTimeout = "invalidation-timeout"
        case badDeviceTableEntry = "bad-device-table-entry"
        case hardwareError = "hardware-error"
        case commandError = "command-error"
        case invalidDeviceRequest = "invalid-device-request"
        case invalidPageRequest = "invalid-page-request"
        case configuration = "configuration"
        case globalFault = "global-fault"
        case other = "other"
        public var description: String { rawValue }
    }
    public var kind: Kind
    public var vendor: IOMMUVendor
    public var iommu: IOMMUInstance?
    /// The device the error names, if any (AMD-Vi `device=`, VT-d ITE SID).
    public var source: FaultSource?
    public var rawCode: UInt32?

    public init(
        kind: Kind, vendor: IOMMUVendor, iommu: IOMMUInstance? = nil, source: FaultSource? = nil,
        rawCode: UInt32? = nil
    ) {
        self.kind = kind
        self.vendor = vendor
        self.iommu = iommu
        self.source = source
        self.rawCode = rawCode
    }
}

/// A hardware fault queue overflowed: what it reported after that point was dropped.
public struct QueueOverflow: Hashable, Sendable {
    public enum Queue: String, Hashable, Sendable, CustomStringConvertible {
        /// VT-d fault recording registers (FSTS.PFO).
        case faultRecords = "fault-records"
        /// AMD-Vi event log (512 entries).
        case eventLog = "event-log"
        /// SMMUv3 event queue.
        case eventQueue = "event-queue"
        /// Page request queue (VT-d PRQ, SMMUv3 PRIQ, AMD PPR log).
        case pageRequests = "page-requests"
        public var description: String { rawValue }
    }
    public var vendor: IOMMUVendor
    public var iommu: IOMMUInstance?
    public var queue: Queue
    /// How many records were lost, when the source knows (the simulator does; kernels don't).
    public var lost: UInt64?

    public init(vendor: IOMMUVendor, iommu: IOMMUInstance? = nil, queue: Queue, lost: UInt64? = nil) {
        self.vendor = vendor
        self.iommu = iommu
        self.queue = queue
        self.lost = lost
    }
}

/// `<function>: N callbacks suppressed`: the printk ratelimit dropped N messages.
public struct SuppressedMessages: Hashable, Sendable {
    /// The ratelimited function (`dmar_fault`, `amd_iommu_report_page_fault`, `arm_smmu_evtq_thread`).
    public var function: String
    public var count: UInt64
    /// Which IOMMU vendor the function belongs to, when the decoder knows.
    public var vendor: IOMMUVendor?
    public var iommu: IOMMUInstance?

    public init(function: String, count: UInt64, vendor: IOMMUVendor? = nil, iommu: IOMMUInstance? = nil) {
        self.function = function
        self.count = count
        self.vendor = vendor
        self.iommu = iommu
    }
}

/// AER severities, in the kernel's post-6.8 vocabulary ("Correctable" = old "Corrected").
public enum AERSeverity: String, Hashable, Sendable, CaseIterable, CustomStringConvertible {
    case corrected
    case nonFatal = "nonfatal"
    case fatal
    public var description: String { rawValue }

    public var eventClass: EventClass {
        switch self {
        case .corrected: .aerCorrected
        case .nonFatal: .aerNonFatal
        case .fatal: .aerFatal
        }
    }
}

/// The PCIe layer an AER error was detected in.
public enum PCIeLayer: String, Hashable, Sendable {
    case physical = "Physical Layer"
    case dataLink = "Data Link Layer"
    case transaction = "Transaction Layer"
}

/// One AER error report, attributed to the error source.
public struct AERError: Hashable, Sendable {
    public var device: PCIAddress
    public var severity: AERSeverity
    public var layer: PCIeLayer?
    /// The Correctable or Uncorrectable Error Status register bits (`error status/mask=`).
    public var status: UInt32
    /// The port that received the error message, when different from the source.
    public var reportedBy: PCIAddress?
    public var count: UInt64

    public init(
        device: PCIAddress, severity: AERSeverity, layer: PCIeLayer? = nil, status: UInt32 = 0,
        reportedBy: PCIAddress? = nil, count: UInt64 = 1
    ) {
        self.device = device
        self.severity = severity
        self.layer = layer
        self.status = status
        self.reportedBy = reportedBy
        self.count = count
    }
}

/// Downstream Port Containment at `port`: the link below it is down and everything below is
/// unreachable until the kernel recovers it.
public struct DPCContainment: Hashable, Sendable {
    public var port: PCIAddress
    public var status: UInt16?
    /// The error source named by the DPC Error Source ID register.
    public var source: PCIAddress?
    public var severity: AERSeverity?

    public init(port: PCIAddress, status: UInt16? = nil, source: PCIAddress? = nil, severity: AERSeverity? = nil) {
        self.port = port
        self.status = status
        self.source = source
        self.severity = severity
    }
}

/// An interrupt storm on one IRQ.
/// A device's own vectors firing, handled, far above their normal rate (`Policy.interruptFloodRate`).
public struct InterruptFlood: Hashable, Sendable {
    public var device: DeviceAddress
    /// Its vectors above the rate, the busiest first.
    public var irqs: [IRQNumber]
    /// The busiest vector's interrupts per second over the sample.
    public var ratePerSecond: UInt64

    public init(device: DeviceAddress, irqs: [IRQNumber], ratePerSecond: UInt64) {
        self.device = device
        self.irqs = irqs
        self.ratePerSecond = ratePerSecond
    }
}

public struct IRQStorm: Hashable, Sendable {
    public var irq: IRQNumber
    /// The devices whose handlers share the line, the suspect first when known.
    public var devices: [DeviceAddress]
    /// Interrupts per second measured (host sampling), when known.
    public var ratePerSecond: UInt64?
    /// The kernel already disabled the line (`Disabling IRQ #N`).
    public var disabledByKernel: Bool

    public init(irq: IRQNumber, devices: [DeviceAddress], ratePerSecond: UInt64? = nil, disabledByKernel: Bool = false)
    {
        self.irq = irq
        self.devices = devices
        self.ratePerSecond = ratePerSecond
        self.disabledByKernel = disabledByKernel
    }
}
