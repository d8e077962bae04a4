#!/bin/sh
# The kernel's uevent helper in the kernel-half scenarios (no udev in the guest): logs the IOMMU
# fault-storm uevents (IOMMU_FAULT_*) with the device they name.
[ -n "$IOMMU_FAULT_STORM" ] || exit 0
echo "$DEVPATH IOMMU_FAULT_STORM=$IOMMU_FAULT_STORM IOMMU_FAULT_SILENCED=$IOMMU_FAULT_SILENCED IOMMU_FAULT_REASON=$IOMMU_FAULT_REASON" >>/tmp/uevents.log
