import CorralCore

extension LogEvent {
    /// The engine's view of this log event, or nil when the log does not say which device it
    /// was (such events are counted apart, never dropped silently). Pure mapping: the
    /// vendor-specific meaning of reasons lives in the vendor record types.
    public var deviceEvent: DeviceEvent? {
        switch kind {
        case .dmaFault:
            guard let source, let vendor else { return nil }
            return .dmaFault(
                DMAFault(
                    source: source, vendor: vendor, iommu: iommu, kind: faultKind, access: access, address: address,
                    pasid: pasid, recoverable: recoverable, rawCode: reason ?? 0))
        case .interruptRemapFault:
            guard let source, let vendor else { return nil }
            return .interruptRemapFault(
                InterruptRemapFault(source: source, vendor: vendor, iommu: iommu, rawCode: reason ?? 0))
        case .iommuError:
            guard let vendor else { return nil }
            return .iommuError(
                IOMMUError(kind: errorKind, vendor: vendor, iommu: iommu, source: source, rawCode: reason))
        case .queueOverflow:
            guard let vendor else { return nil }
            let queue: QueueOverflow.Queue =
                switch vendor {
                case .intelVTd: reasonText?.contains("page request") == true ? .pageRequests : .faultRecords
                case .amdVi: .eventLog
                case .armSMMU, .armSMMUv3: reasonText?.contains("page request") == true ? .pageRequests : .eventQueue
                case .riscv, .mediatek, .renesasIPMMU, .rockchip, .appleDART: .eventQueue
                }
            return .queueOverflowed(QueueOverflow(vendor: vendor, iommu: iommu, queue: queue))
        case .suppressed:
            guard let count else { return nil }
            let function = function ?? "unknown"
            return .messagesSuppressed(
                SuppressedMessages(function: function, count: count, vendor: RateLimitLog.vendor(ofFunction: function)))
        case .aer:
            guard let device, let severity else { return nil }
            return .aerError(AERError(device: device, severity: severity, status: status ?? 0, reportedBy: reporter))
        case .dpc:
            guard let device else { return nil }
            return .dpcContained(
                DPCContainment(port: device, status: status.map { UInt16(truncatingIfNeeded: $0) }, severity: severity))
        case .hotplug:
            guard let device, let slotChange else { return nil }
            switch slotChange {
            case .linkDown: return .linkChanged(port: device, up: false)
            case .linkUp: return .linkChanged(port: device, up: true)
            case .cardNotPresent: return .presenceChanged(port: device, present: false)
            case .cardPresent: return .presenceChanged(port: device, present: true)
            case .attentionButton: return nil
            }
        case .deviceLost:
            return device.map { .deviceLost(.pci($0)) }
        case .irqStorm:
            guard let irq else { return nil }
            return .irqStorm(IRQStorm(irq: irq, devices: device.map { [.pci($0)] } ?? [], disabledByKernel: true))
        }
    }

    /// Who did it. VT-d and AMD-Vi report a requester ID, which the engine's resolver maps
    /// through DMA alias groups (devices behind a PCIe-to-PCI bridge share one); SMMU events
    /// name a stream unless the log named the device.
    var source: FaultSource? {
        if let device, vendor == .intelVTd || vendor == .amdVi {
            return .requester(segment: device.segment, device.requesterID)
        }
        if let device { return .device(.pci(device)) }
        if let iommu, let streamID { return .stream(SMMUStream(iommu: iommu, streamID: streamID)) }
        return nil
    }

    /// What a DMA fault was, from the vendor's reason (`other` when the log does not say).
    public var faultKind: DMAFaultKind {
        guard let vendor, let reason else { return .other }
        switch vendor {
        case .intelVTd:
            return VTdFaultReason(UInt8(truncatingIfNeeded: reason)).faultKind
        case .armSMMUv3:
            return SMMUv3EventRecord.faultKind(id: reason, access: access)
        case .armSMMU:
            return SMMUv2ContextFault.faultKind(fsr: reason, access: access)
        case .amdVi:
            guard let flags = status.map({ AMDViEventRecord.Flags(rawValue: UInt16(truncatingIfNeeded: $0)) }) else {
                return .other
            }
            return AMDViEventRecord.faultKind(flags: flags)
        case .riscv, .mediatek, .renesasIPMMU, .rockchip, .appleDART:
            // Their families set no reason the engine reads as a kind: the access and the
            // unit are what the line says.
            return .other
        }
    }

    var errorKind: IOMMUError.Kind {
        switch (vendor, reason) {
        case (.amdVi, 1): .badDeviceTableEntry
        case (.amdVi, 3), (.amdVi, 4), (.amdVi, 6), (.amdVi, 0xE): .hardwareError
        case (.amdVi, 5): .commandError
        case (.amdVi, 7): .invalidationTimeout
        case (.amdVi, 8): .invalidDeviceRequest
        case (.amdVi, 9): .invalidPageRequest
        case (.armSMMUv3, _) where reason != nil: .configuration
        case (.armSMMU, _): .globalFault
        case (.intelVTd, _) where reasonText?.contains("invalidation") == true: .invalidationTimeout
        default: .other
        }
    }
}
