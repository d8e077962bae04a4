#!/bin/sh
# Guest side of scripts/proving-ground (busybox sh): one scenario per boot, named by pg=NAME.
#
# What the host reads from the serial console:
#   PG: ...                 progress
#   PG-MARK NAME            the guest is ready for the host to act (QEMU monitor command)
#   PG-CHECK ok|FAIL NAME   one assertion
#   PG-FIGURE SCENARIO k=v  measured figures (guest time, from /proc/uptime and printk stamps)
#   ===== TITLE             a dumped section (corral's log, status, history; kernel log)
SCENARIO=$1
JOURNAL=/tmp/journal.sqlite
CORRAL_PID=
# pg.baseline=1: the same scenario with no Corral, to see what the kernel alone does
BASELINE=0
grep -q 'pg.baseline=1' /proc/cmdline && BASELINE=1

say() { echo "PG: $*"; }
uptime_s() { cut -d' ' -f1 /proc/uptime; }
check() { # check NAME COMMAND... : one assertion, never stops the scenario
    name=$1
    shift
    if "$@"; then echo "PG-CHECK ok $name"; else echo "PG-CHECK FAIL $name"; fi
}
not() { ! "$@"; }
gone() { ! [ -e /sys/bus/pci/devices/$1 ]; }
figure() { echo "PG-FIGURE $SCENARIO $*"; }
# BDFs of every edu device (QEMU's 1234:11e8)
edu_devices() {
    for d in /sys/bus/pci/devices/*; do
        [ "$(cat $d/vendor):$(cat $d/device)" = "0x1234:0x11e8" ] && echo ${d##*/}
    done
}
device_by_class() { # first BDF whose class starts with $1 (0x0108: NVMe)
    for d in /sys/bus/pci/devices/*; do
        case "$(cat $d/class)" in $1*) echo ${d##*/}; return 0 ;; esac
    done
    return 1
}
present() { [ -e /sys/bus/pci/devices/$1 ]; }
present_usb() { [ -e /sys/bus/usb/devices/1-1/serial ]; }
bus_master_on() { /edu-dma bm $1 show | grep -q 'bus-master=on'; }
bus_master_off() { present $1 && ! bus_master_on $1; }
contained_or_gone() { ! present $1 || ! bus_master_on $1; }
# faults the IOMMU raised: VT-d's fault interrupt counts one per recorded fault; SMMUv3's event
# queue interrupt at least one per batch of events
dmar_interrupts() {
    awk '$NF == "dmar0" || $NF == "arm-smmu-v3-evtq" { print $2; found=1 } END { if (!found) print 0 }' /proc/interrupts
}
# printk time of the first kernel line matching $1
first_log_time() { dmesg | grep -m1 -E "$1" | sed -n 's/^\[ *\([0-9.]*\)\].*/\1/p'; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "") print "?"; else printf "%.3f", b - a }'; }
# wait_for SECONDS COMMAND...: polls every 50 ms; 0 when the command succeeded in time
wait_for() {
    limit=$(($1 * 20))
    shift
    i=0
    while [ $i -lt $limit ]; do
        "$@" && return 0
        usleep 50000
        i=$((i + 1))
    done
    return 1
}

start_corral() { # MODE
    if [ $BASELINE = 1 ]; then
        say "baseline: no corral"
        return
    fi
    policy=/pg/policy.yaml
    [ -e /pg/$SCENARIO.yaml ] && policy=/pg/$SCENARIO.yaml
    say "corral watch --mode $1 (policy $policy)"
    /corral watch --mode "$1" --config $policy --journal $JOURNAL --interval 50ms >/tmp/watch.log 2>&1 &
    CORRAL_PID=$!
    # (arm64: corral runs under qemu-user inside an emulated guest and takes ~30 s to start)
    wait_for 120 grep -q "watching" /tmp/watch.log || say "corral watch did not say it is watching"
}
stop_corral() {
    if [ $BASELINE = 1 ]; then
        : >/tmp/status.json
        : >/tmp/history.json
        return
    fi
    [ -n "$CORRAL_PID" ] && kill -TERM $CORRAL_PID 2>/dev/null && wait $CORRAL_PID
    echo "===== corral watch log"
    cat /tmp/watch.log
    # Reaction time: from the kernel record that decided an action to the action carried out
    # (corral's own measure, on one clock through its start marker).
    reaction=$(sed -n 's/.* carried out \([0-9.]*\) ms after the event that decided it.*/\1/p' /tmp/watch.log | head -n 1)
    [ -n "$reaction" ] && figure "reaction=${reaction}ms"
    /corral status --journal $JOURNAL --json >/tmp/status.json 2>&1
    /corral history --journal $JOURNAL --json >/tmp/history.json 2>&1
    echo "===== corral status"
    /corral status --journal $JOURNAL
    echo "===== corral history"
    /corral history --journal $JOURNAL
    echo "===== corral history --json"
    cat /tmp/history.json
}
# status --json is one Codable object per line (keys sorted, no spaces): a device's field
status_field() { # DEVICE FIELD: the field's value (a string's text, or a number)
    grep -F "\"device\":\"$1\"" /tmp/status.json | sed -n "s/.*\"$2\":\"*\([^\",}]*\).*/\1/p" | head -n 1
}
state_of() { status_field "$1" state; } # the device's state as corral status --json says
# history --json is one Codable object per line too: episodes, then decisions.
decisions_about() { # DEVICE: its decisions, one per line
    grep -F '"type":"decision"' /tmp/history.json | grep -F "\"subject\":\"$1\""
}
episode() { # DEVICE CLASS: an episode of CLASS journaled for DEVICE
    grep -F '"type":"episode"' /tmp/history.json | grep -F "\"device\":\"$1\"" | grep -q -F "\"class\":\"$2\""
}
decided() { # decided DEVICE PATTERN: a journaled decision about DEVICE whose action (in words) matches
    decisions_about "$1" | grep -q -E "\"action_text\":\"[^\"]*($2)"
}
recommended_only() { # every decision about DEVICE with an action is a recommendation
    decisions_about "$1" | grep '"action":"' | grep -q '"recommendation":false' && return 1
    decisions_about "$1" | grep -q '"recommendation":true'
}
carried_out() { # a journaled decision about DEVICE whose device-changing action was carried out
    decisions_about "$1" | grep -E '"action_text":"[^"]*(bus master|reset|remove|power|INTx)' \
        | grep -q '"recommendation":false'
}
# audit --json is one array: one finding per line, then match a finding's fields.
audit_finding() { # FILE CHECK VERDICT-PATTERN [EVIDENCE-PATTERN]
    sed 's/},{"check"/}\n{"check"/g' "$1" | grep -F "\"check\":\"$2\"" | grep -E "\"verdict\":\"$3\"" \
        | grep -q -E "\"evidence\":\"${4:-}"
}
kernel_log() {
    echo "===== kernel log (DMAR, AER, pciehp, irq)"
    dmesg | grep -E 'DMAR|dmar|AER|pciehp|nvme|nobody cared|Disabling IRQ|iommu group|callbacks suppressed|smmu' | tail -n 80
}
prepare_edu() { # BDF: memory decode + bus master on, no driver (the driverless DMA of the issue)
    # (with a driver bound the kernel refuses `enable`; edu-dma sets memory decode itself)
    [ -e /sys/bus/pci/devices/$1/driver ] || echo 1 >/sys/bus/pci/devices/$1/enable
    /edu-dma bm $1 on >/dev/null
}

# One storm from BDF in MODE; sets STORM_* figures. The storm keeps going after containment
# (its DMAs are dropped once bus master is off) so that "no fault after" means something.
storm_and_watch() { # BDF COUNT IOVA
    faults_before=$(dmar_interrupts)
    /edu-dma storm $1 $3 $2 w >/tmp/storm.out 2>&1 &
    storm_pid=$!
    contained_or_done() { contained_or_gone $1 || ! kill -0 $storm_pid 2>/dev/null; }
    wait_for 30 contained_or_done $1
    STORM_CONTAINED_AT=$(uptime_s)
    STORM_FAULTS_AT_CONTAINMENT=$(($(dmar_interrupts) - faults_before))
    wait $storm_pid
    sleep 1
    STORM_DMAS=$(sed -n 's/.*: \([0-9]*\) DMAs done/\1/p' /tmp/storm.out)
    STORM_FAULTS_AFTER=$(($(dmar_interrupts) - faults_before - STORM_FAULTS_AT_CONTAINMENT))
}

# The figures of a storm_and_watch run: DEVICE FIRST-FAULT-TIME LOGGED-COUNT LOGGED-LABEL
storm_figures() {
    if [ $BASELINE = 1 ]; then
        figure "first-fault=${2}s storm-ran-until=${STORM_CONTAINED_AT}s faults=$STORM_FAULTS_AT_CONTAINMENT" \
            "$4=$3 bus-master=$(bus_master_on $1 && echo on || echo off)"
    else
        figure "first-fault=${2}s bus-master-cleared=${STORM_CONTAINED_AT}s" \
            "first-fault-to-containment=$(elapsed "$2" "$STORM_CONTAINED_AT")s" \
            "faults-before=$STORM_FAULTS_AT_CONTAINMENT faults-after=$STORM_FAULTS_AFTER $4=$3 state=$(state_of $1)"
    fi
}

# The kernel half (scripts/kernel-build, docs/kernel.md): per-device counts in sysfs
faults_dir() { echo /sys/bus/pci/devices/$1/iommu_faults; }
fault_file() { cat "$(faults_dir $1)/$2" 2>/dev/null || echo "?"; }
# time spent in interrupt handlers, all CPUs (/proc/stat, USER_HZ ticks of 10 ms)
irq_ms() { awk '$1 == "cpu" { print ($7 + 0) * 10 }' /proc/stat; }
# fault lines the IOMMU driver printed (VT-d: one per fault; SMMUv3: a header and 4 dwords)
fault_lines() { dmesg | grep -c -E "DMAR: \[DMA|arm-smmu-v3 .*: event 0x[0-9a-f]+ received"; }

case "$SCENARIO" in
kernel-storm)
    # The same driverless storm on the patched kernel (kernel-storm) and on the same kernel
    # without the patches (kernel-storm-stock); no corral. Storm handling: 8 faults in 2 s
    # (iommu.fault_storm_threshold/window_ms on the command line).
    edu=$(edu_devices | head -n 1)
    faults=$(faults_dir $edu)
    # Faults per DMA: edu moves 8 bytes; QEMU's VT-d sees one access, its SMMUv3 two 4-byte
    # ones (two events per DMA, at +0 and +4).
    per_dma=1
    if [ "$(uname -m)" = aarch64 ]; then
        per_dma=2
        # On arm64 the device meets its IOMMU when a driver binds (of_dma_configure), and
        # SMMUv3 translates its DMA from then on (see smmuv3-storm).
        echo 1234 11e8 >/sys/bus/pci/drivers/pci-stub/new_id
        wait_for 5 [ -e /sys/bus/pci/devices/$edu/driver ]
    fi
    patched=0
    [ -d $faults ] && patched=1
    say "kernel: $(uname -r) $(uname -m), fault counts in sysfs: $patched"
    prepare_edu $edu
    echo /pg/uevent.sh >/sys/kernel/uevent_helper
    if [ $patched = 1 ]; then
        # 1. Exact counts beyond the printk rate limit (storm handling off for this device).
        echo 1000 >$faults/storm_threshold
        echo 1 >/sys/kernel/tracing/events/iommu/dma_fault/enable
        lines=$(fault_lines)
        /edu-dma storm $edu 0x100000 30 w
        sleep 1
        lines=$(($(fault_lines) - lines))
        traced=$(grep -c 'dma_fault:' /sys/kernel/tracing/trace)
        echo 0 >/sys/kernel/tracing/events/iommu/dma_fault/enable
        say "30 DMAs: counted $(fault_file $edu total) (not_present $(fault_file $edu not_present)), traced $traced, logged $lines"
        check count-equals-dmas [ "$(fault_file $edu total)" = $((30 * per_dma)) ]
        check tracepoint-equals-dmas [ "$traced" = $((30 * per_dma)) ]
        check log-is-rate-limited [ $lines -lt $((30 * per_dma)) ]
        figure "dmas=30 counted=$(fault_file $edu total) traced=$traced logged=$lines"
        echo 0 >$faults/storm_threshold
    fi
    # 2. The storm: 60 DMAs to unmapped addresses.
    total_before=$(fault_file $edu total)
    interrupts=$(dmar_interrupts)
    irq_before=$(irq_ms)
    lines=$(fault_lines)
    started=$(uptime_s)
    /edu-dma storm $edu 0x200000 60 w
    sleep 1
    interrupts=$(($(dmar_interrupts) - interrupts))
    lines=$(($(fault_lines) - lines))
    irq_time=$(($(irq_ms) - irq_before))
    silenced_at=$(first_log_time "$edu: IOMMU fault storm")
    figure "storm-dmas=60 fault-interrupts=$interrupts fault-lines=$lines irq-time=${irq_time}ms" \
        "silenced-after=$(elapsed "$started" "$silenced_at")s"
    if [ $patched = 0 ]; then
        check stock-records-every-fault [ $interrupts -ge $((60 * per_dma)) ]
    else
        say "storm: counted $(($(fault_file $edu total) - total_before)), silenced $(fault_file $edu silenced)"
        check storm-silenced [ "$(fault_file $edu silenced)" = 1 ]
        check one-storm [ "$(fault_file $edu storms)" = 1 ]
        check storm-uevent grep -q "IOMMU_FAULT_STORM=1 IOMMU_FAULT_SILENCED=1 IOMMU_FAULT_REASON=storm" /tmp/uevents.log
        check storm-line-names-device sh -c "dmesg | grep -q '$edu: IOMMU fault storm: .* fault reporting silenced'"
        check fault-interrupts-stop [ $interrupts -lt 20 ]
        # 3. A bus-master off/on cycle restores reporting; a relapse is silenced again.
        /edu-dma bm $edu off >/dev/null
        /edu-dma bm $edu on >/dev/null
        check restored-after-bus-master-cycle wait_for 5 grep -qx 0 $faults/silenced
        check restore-logged sh -c "dmesg | grep -q 'IOMMU fault reporting restored (bus master re-enabled)'"
        /edu-dma storm $edu 0x300000 30 w
        check silenced-again-on-relapse wait_for 5 grep -qx 1 $faults/silenced
        check two-storms [ "$(fault_file $edu storms)" = 2 ]
        if [ "$(uname -m)" != aarch64 ]; then
            # Enabled again through the enable file (pci_disable_device, pci_enable_device):
            # reporting comes back; a relapse is silenced again. (On arm64 the edu has a
            # driver, pci-stub, and the enable file refuses a device with a driver.)
            echo 0 >/sys/bus/pci/devices/$edu/enable
            echo 1 >/sys/bus/pci/devices/$edu/enable
            check restored-when-enabled-again wait_for 5 grep -qx 0 $faults/silenced
            check enable-restore-logged sh -c "dmesg | grep -q 'IOMMU fault reporting restored (device re-enabled)'"
            /edu-dma bm $edu on >/dev/null
            /edu-dma storm $edu 0x380000 30 w
            check silenced-again-after-enable wait_for 5 grep -qx 1 $faults/silenced
        fi
        # 4. Silenced, its mapped DMA still works: bound to vfio-pci (its own domain: a domain
        # change keeps the silence), a storm through VFIO (silenced already, or again where
        # VFIO's takeover was a new start: on arm64 it clears bus master and enables the
        # device), a round trip through a mapped buffer, then unmapped DMAs not recorded.
        [ -e /sys/bus/pci/devices/$edu/driver ] && echo $edu >/sys/bus/pci/devices/$edu/driver/unbind
        echo 1234 11e8 >/sys/bus/pci/drivers/vfio-pci/new_id
        wait_for 5 [ -e /sys/bus/pci/drivers/vfio-pci/$edu ]
        /vfio-dma $edu 20 $faults 10 >/tmp/vfio-dma.log 2>&1
        cat /tmp/vfio-dma.log
        check silenced-in-vfio-domain grep -q 'iommu_faults/silenced reads 1' /tmp/vfio-dma.log
        check mapped-dma-works-while-silenced grep -q 'mapped round trip ok' /tmp/vfio-dma.log
        unrecorded() {
            set -- $(sed -n 's/.*total before \([0-9-]*\) after \([0-9-]*\)$/\1 \2/p' /tmp/vfio-dma.log)
            [ -n "${1:-}" ] && [ "$1" != -1 ] && [ "$1" = "$2" ]
        }
        check unmapped-dma-not-recorded-while-silenced unrecorded
        figure "storms=$(fault_file $edu storms) counted-total=$(fault_file $edu total)"
    fi
    echo "===== uevents"
    cat /tmp/uevents.log 2>/dev/null
    kernel_log
    dmesg | grep -E 'IOMMU fault' | tail -n 20
    ;;
kernel-corral)
    # corral watch --mode enforce on the patched kernel: it claims the edu's storms from the
    # kernel, silences it through iommu_faults/silenced, restores it after the silence hold,
    # and stops its DMA when the storm goes on; its journal's count is the kernel's.
    # (bound to pci-stub: a driven device, for which the ladder starts at silence; a
    # driverless one is strict and goes straight to stopping its DMA)
    edu=$(edu_devices | head -n 1)
    faults=$(faults_dir $edu)
    echo 1234 11e8 >/sys/bus/pci/drivers/pci-stub/new_id
    wait_for 5 [ -e /sys/bus/pci/devices/$edu/driver ]
    prepare_edu $edu
    start_corral enforce
    check claimed-by-corral wait_for 10 sh -c "[ \$(cat $faults/claim) -gt 0 ]"
    storm_and_watch $edu 100 0x100000
    sleep 2  # a counter sample after the last fault
    kernel_total=$(fault_file $edu total)
    stop_corral
    check claim-given-back-at-exit [ "$(fault_file $edu claim)" = 0 ]
    check journal-silence-carried-out decided $edu "silence fault reporting"
    check silenced-through-sysfs sh -c "dmesg | grep -q '$edu: IOMMU fault reporting silenced (user)'"
    check restored-through-sysfs sh -c "dmesg | grep -q '$edu: IOMMU fault reporting restored (user)'"
    check kernel-left-the-storm-to-corral not sh -c "dmesg | grep -q 'IOMMU fault storm: .*; fault reporting silenced'"
    check bus-master-cleared-on-relapse bus_master_off $edu
    journal_total=$(grep -F '"type":"fault-kinds"' /tmp/history.json | grep -F "\"device\":\"$edu\"" \
        | sed 's/.*"kinds":{\([^}]*\)}.*/\1/' | tr ',' '\n' | sed 's/.*://' | awk '{ s += $1 } END { print s + 0 }')
    say "faults: kernel counted $kernel_total, corral journaled $journal_total"
    check journal-count-is-the-kernels [ "$journal_total" = "$kernel_total" ]
    figure "kernel-counted=$kernel_total journaled=$journal_total dmas=$STORM_DMAS" \
        "faults-before-containment=$STORM_FAULTS_AT_CONTAINMENT faults-after=$STORM_FAULTS_AFTER"
    kernel_log
    dmesg | grep -E 'IOMMU fault' | tail -n 20
    ;;
vtd-storm)
    edu=$(edu_devices | head -n 1)
    prepare_edu $edu
    start_corral enforce
    storm_and_watch $edu 100 0x100000
    first=$(first_log_time "DMAR: \[DMA.*\[$(echo ${edu#0000:} | cut -d: -f1)")
    stop_corral
    kernel_log
    check bus-master-cleared bus_master_off $edu
    check no-fault-after-containment [ $STORM_FAULTS_AFTER -le 1 ]
    check journal-stop-dma decided $edu "bus master"
    check journal-state-contained sh -c "[ -n \"$(state_of $edu)\" ] && [ \"$(state_of $edu)\" != healthy ]"
    storm_figures $edu "$first" "$(dmesg | grep -c 'DMAR: \[DMA')" fault-lines-logged
    ;;
hook-systemd)
    # corral started as systemd starts a Type=notify service with WatchdogSec (NOTIFY_SOCKET,
    # WATCHDOG_USEC), a containment hook in its policy; the vtd-storm storm.
    edu=$(edu_devices | head -n 1)
    prepare_edu $edu
    /notify-listen /run/corral-notify >/tmp/notify.log 2>&1 &
    listener=$!
    wait_for 5 [ -S /run/corral-notify ]
    export NOTIFY_SOCKET=/run/corral-notify WATCHDOG_USEC=2000000
    start_corral enforce
    unset NOTIFY_SOCKET WATCHDOG_USEC
    check ready-reported wait_for 60 grep -q 'READY=1' /tmp/notify.log
    ready_at=$(sed -n 's/^\([0-9.]*\) READY=1.*/\1/p' /tmp/notify.log | head -n 1)
    storm_and_watch $edu 100 0x100000
    check hook-ran wait_for 30 [ -s /tmp/hook-event.json ]
    stop_corral
    kill $listener 2>/dev/null
    echo "===== notify messages"
    cat /tmp/notify.log
    echo "===== hook event"
    cat /tmp/hook-event.json
    echo
    check bus-master-cleared bus_master_off $edu
    check hook-event-is-containment grep -q '"event":"on-containment"' /tmp/hook-event.json
    check hook-event-names-the-device grep -q "\"subject\":\"$edu\"" /tmp/hook-event.json
    check hook-environment grep -q "^on-containment $edu " /tmp/hook-runs
    check watchdog-pinged grep -q 'WATCHDOG=1' /tmp/notify.log
    check stopping-reported grep -q 'STOPPING=1' /tmp/notify.log
    hook_at=$(cut -d' ' -f3 /tmp/hook-runs | head -n 1)
    figure "ready=${ready_at:-?}s bus-master-cleared=${STORM_CONTAINED_AT}s hook-ran=${hook_at:-?}s" \
        "watchdog-pings=$(grep -c 'WATCHDOG=1' /tmp/notify.log)"
    ;;
msi-flood)
    # A handled interrupt flood: edu bound to vfio-pci (its MSI handled by vfio_msihandler, so the
    # kernel sees nothing wrong) raises an MSI per register write for 20 s.
    edu=$(edu_devices | head -n 1)
    modprobe vfio-pci
    modprobe vfio_iommu_type1
    echo 1234 11e8 >/sys/bus/pci/drivers/vfio-pci/new_id
    wait_for 10 [ -e /sys/bus/pci/devices/$edu/driver ]
    say "edu driver: $(basename $(readlink /sys/bus/pci/devices/$edu/driver))"
    start_corral enforce
    flood_start=$(uptime_s)
    /vfio-msi $edu 20 >/tmp/flood.out 2>&1 &
    flood_pid=$!
    sleep 3
    vector=$(ls /sys/bus/pci/devices/$edu/msi_irqs 2>/dev/null | head -n 1)
    grep -E "vfio|^ *CPU" /proc/interrupts
    wait $flood_pid
    flood_end=$(uptime_s)
    cat /tmp/flood.out
    sleep 2
    stop_corral
    reported_flood() { decisions_about "$1" | grep -q 'interrupt-flood'; }
    check flood-happened grep -q 'interrupts handled' /tmp/flood.out
    check flood-journaled-on-the-edu episode $edu interrupt-flood
    check flood-reported reported_flood $edu
    check nothing-written-to-the-edu not carried_out $edu
    check edu-still-on-vfio sh -c "[ \"$(basename $(readlink /sys/bus/pci/devices/$edu/driver))\" = vfio-pci ]"
    figure "flood=$(sed -n 's/.*handled in [0-9.]* s (\([0-9]*\)\/s).*/\1/p' /tmp/flood.out)/s from ${flood_start}s to ${flood_end}s" \
        "vector=${vector:-?} flood-samples=$(status_field $edu events)"
    ;;
vtd-recommend)
    edu=$(edu_devices | head -n 1)
    prepare_edu $edu
    start_corral recommend
    before=$(dmar_interrupts)
    /edu-dma storm $edu 0x100000 40 w >/tmp/storm.out 2>&1
    sleep 1
    faults=$(($(dmar_interrupts) - before))
    stop_corral
    kernel_log
    check bus-master-untouched bus_master_on $edu
    check recommendation-journaled recommended_only $edu
    check every-dma-faulted [ $faults -ge 40 ]
    figure "faults=$faults (40 DMAs) bus-master=$(bus_master_on $edu && echo on || echo off)" \
        "recommendations=$(decisions_about $edu | grep -c '"recommendation":true')"
    ;;
vtd-relapse)
    edu=$(edu_devices | head -n 1)
    prepare_edu $edu
    start_corral enforce
    round=1
    while [ $round -le 3 ] && present $edu; do
        say "round $round: storm"
        storm_and_watch $edu 30 $((0x100000 + round * 0x100000))
        figure "round-$round contained-at=${STORM_CONTAINED_AT}s faults-before=$STORM_FAULTS_AT_CONTAINMENT faults-after=$STORM_FAULTS_AFTER present=$(present $edu && echo yes || echo no)"
        eval "round_${round}_after=$STORM_FAULTS_AFTER"
        if [ $round -lt 3 ] && present $edu; then
            sleep 2
            say "round $round: a driver's re-init sets bus master again"
            /edu-dma bm $edu on >/dev/null
            sleep 1
        fi
        round=$((round + 1))
    done
    wait_for 20 gone $edu
    stop_corral
    kernel_log
    check contained-round-1 decided $edu "bus master"
    check no-fault-after-containment-1 [ "${round_1_after:-99}" -le 1 ]
    check no-fault-after-containment-2 [ "${round_2_after:-99}" -le 1 ]
    check retired-and-removed gone $edu
    check status-says-retired [ "$(state_of $edu)" = retired ]
    figure "rounds=$((round - 1)) final-state=$(state_of $edu)"
    ;;
vtd-two-devices)
    set -- $(edu_devices)
    stormy=$1
    rare=$2
    # The rare one has a driver (pci-stub, standing in for a NIC whose driver lets a stray DMA
    # through now and then): a driverless device gets no slack (its first faults contain it).
    echo pci-stub >/sys/bus/pci/devices/$rare/driver_override
    echo $rare >/sys/bus/pci/drivers_probe
    say "$rare driver: $(basename $(readlink /sys/bus/pci/devices/$rare/driver) 2>/dev/null)"
    prepare_edu $stormy
    prepare_edu $rare
    start_corral enforce
    # the rare one: 6 faults, one every ~2 s, through and after the other's storm
    /edu-dma storm $rare 0x800000 6 w 2000 >/tmp/rare.out 2>&1 &
    rare_pid=$!
    all_before=$(dmar_interrupts)
    storm_and_watch $stormy 60 0x100000
    wait $rare_pid
    sleep 2
    all_faults=$(($(dmar_interrupts) - all_before))
    stop_corral
    kernel_log
    rare_counted=$(status_field "$rare" events)
    stormy_counted=$(status_field "$stormy" events)
    suppressed=$(grep -o 'suppressed[^"]*' /tmp/watch.log | tail -n 1)
    check storming-device-contained bus_master_off $stormy
    check rare-device-left-alone bus_master_on $rare
    check rare-device-not-contained not decided $rare 'bus master|reset|remove'
    rare_made=$(sed -n 's/.*: \([0-9]*\) DMAs done/\1/p' /tmp/rare.out)
    check every-rare-fault-counted [ "${rare_counted:-0}" -eq "${rare_made:-6}" ]
    # Faults the dmar0 interrupt counted while both devices were logging (the stormy one's last,
    # in flight while Corral cleared its bus master) have no device Corral may name: they are
    # journaled apart, as faults with no device named, never guessed and never dropped.
    unnamed=$(status_field "(intel-vtd faults, device not named)" events)
    check every-fault-counted [ $((${stormy_counted:-0} + ${rare_counted:-0} + ${unnamed:-0})) -ge $all_faults ]
    figure "faults-raised=$all_faults fault-lines-logged=$(dmesg | grep -c 'DMAR: \[DMA')" \
        "rare-lines-logged=$(dmesg | grep -c "DMAR: \[DMA.*\[$(echo ${rare#0000:} | cut -d: -f1)")" \
        "stormy-counted=${stormy_counted:-0} rare-counted=${rare_counted:-0} (${rare_made:-?} made)" \
        "no-device-named=${unnamed:-0}" \
        "stormy-stopped-after=$STORM_FAULTS_AT_CONTAINMENT faults"
    ;;
audit)
    edu=$(edu_devices | head -n 1)
    prepare_edu $edu
    /corral audit
    /corral audit --json >/tmp/audit.json
    echo "===== corral audit --json"
    cat /tmp/audit.json
    group=$(basename $(readlink /sys/bus/pci/devices/$edu/iommu_group))
    check iommu-enabled audit_finding /tmp/audit.json "IOMMU enabled" ok
    check edu-group-translated audit_finding /tmp/audit.json "IOMMU group $group" '[a-z]*' 'type DMA'
    check driverless-bus-master-flagged audit_finding /tmp/audit.json "driverless bus master" fail "[^\"]*$edu"
    /corral audit >/dev/null
    code=$?
    check exit-code-2-for-failure [ $code -eq 2 ]
    /edu-dma bm $edu off >/dev/null
    /corral audit --json >/tmp/audit-after.json
    check not-flagged-once-bus-master-off not audit_finding /tmp/audit-after.json "driverless bus master" fail "$edu"
    figure "findings=$(grep -o '"verdict"' /tmp/audit.json | wc -l) failures=$(grep -o '"verdict":"fail"' /tmp/audit.json | wc -l) warnings=$(grep -o '"verdict":"warn"' /tmp/audit.json | wc -l) exit=$code"
    ;;
aer-nvme)
    nvme=$(device_by_class 0x0108)
    port=$(basename $(dirname $(readlink -f /sys/bus/pci/devices/$nvme)))
    /edu-dma errrep $port
    start_corral enforce
    echo "PG-MARK inject-nonfatal"
    wait_for 60 sh -c "dmesg | grep -q 'Uncorrected (Non-Fatal) error message received from $port'"
    wait_for 20 sh -c "dmesg | grep -q 'AER: device recovery'"
    sleep 2
    echo "PG-MARK inject-fatal"
    wait_for 60 sh -c "dmesg | grep -q 'Uncorrected (Fatal) error message received from $port'"
    wait_for 30 sh -c "[ \$(dmesg | grep -c 'AER: device recovery') -ge 2 ]"
    sleep 3
    stop_corral
    kernel_log
    check nonfatal-episode-at-port episode $port aer-nonfatal
    check fatal-episode-at-port episode $port aer-fatal
    check bits-in-journal sh -c "grep -q -E 'CmpltTO|Completion Timeout' /tmp/history.json && grep -q -E 'SDES|Surprise Down' /tmp/history.json"
    # The errors reached the engine from ras:aer_event's binary records (kmsg's AER lines are
    # not counted while the tracepoint is on).
    check aer-from-trace-pages grep -q -E 'tracepoints: [1-9][0-9]* records read from the binary per-CPU buffers' /tmp/watch.log
    figure "kernel-recovery=\"$(dmesg | grep -o 'AER: device recovery [a-z]*' | sed 's/AER: device recovery //' | tr '\n' ',' | sed 's/,$//')\"" \
        "nvme-after=$(present $nvme && echo present || echo gone) port-state=$(state_of $port)"
    ;;
nvme-hotplug)
    nvme=$(device_by_class 0x0108)
    serial=$(cat /sys/bus/pci/devices/$nvme/nvme/nvme*/serial 2>/dev/null | tr -d ' ')
    start_corral enforce
    dd if=/dev/nvme0n1 of=/dev/null bs=4096 count=256 2>/dev/null
    sleep 2
    echo "PG-MARK remove"
    wait_for 60 gone $nvme
    removed_at=$(uptime_s)
    sleep 7
    echo "PG-MARK reinsert"
    wait_for 60 sh -c "ls /sys/bus/pci/devices/$nvme/nvme 2>/dev/null | grep -q nvme"
    added_at=$(uptime_s)
    serial_after=$(cat /sys/bus/pci/devices/$nvme/nvme/nvme*/serial 2>/dev/null | tr -d ' ')
    sleep 12
    stop_corral
    kernel_log
    removal_said() { decisions_about "$1" | grep -q -i -E "$2"; }
    check removal-journaled removal_said $nvme 'removed|gone|absent'
    check readded-journaled removal_said $nvme 'added|present|back'
    check same-serial [ -n "$serial" -a "$serial" = "$serial_after" ]
    check serial-recognized grep -q "same device.*nvme-$serial\|serial nvme-$serial" /tmp/history.json
    check no-containment not decided $nvme 'bus master|reset|remove|power'
    check healthy-after [ "$(state_of $nvme)" = healthy ]
    figure "serial=$serial removed-at=${removed_at}s re-added-at=${added_at}s state=$(state_of $nvme)"
    ;;
intx-storm)
    edu=$(edu_devices | head -n 1)
    virtio=$(for d in /sys/bus/pci/devices/*; do [ "$(cat $d/vendor)" = 0x1af4 ] && echo ${d##*/}; done | head -n 1)
    # pci_enable_device routes the legacy line: read the IRQ after it
    echo 1 >/sys/bus/pci/devices/$edu/enable
    irq=$(cat /sys/bus/pci/devices/$edu/irq)
    say "edu $edu and virtio $virtio share IRQ $irq (virtio's: $(cat /sys/bus/pci/devices/$virtio/irq))"
    start_corral enforce
    dd if=/dev/vda of=/dev/null bs=4096 count=16 2>/dev/null
    intx_disabled() { [ $((0x$(od -An -tx1 -j5 -N1 /sys/bus/pci/devices/$edu/config | tr -d ' ') & 4)) -ne 0 ]; }
    settled() { intx_disabled || dmesg | grep -q "Disabling IRQ #$irq"; }
    asserted_at=$(uptime_s)
    /edu-dma intx $edu on
    wait_for 20 settled
    wait_for 5 intx_disabled
    masked_at=$(uptime_s)
    intx_disabled || masked_at=never
    sleep 2
    kernel_at=$(first_log_time "Disabling IRQ #$irq")
    stop_corral
    kernel_log
    echo "===== /proc/interrupts, /proc/irq/$irq/spurious"
    grep -E "^ *$irq:" /proc/interrupts
    cat /proc/irq/$irq/spurious
    # Is the innocent disk still usable? Linux polls a line it disabled every 100 ms
    # (poll_spurious_irqs), so it may limp on rather than die.
    echo 3 >/proc/sys/vm/drop_caches
    t0=$(uptime_s)
    innocent=no
    timeout 20 dd if=/dev/vda of=/dev/null bs=4096 count=16 skip=2000 2>/dev/null && innocent=yes
    t1=$(uptime_s)
    check corral-names-edu decided $edu 'INTx'
    check edu-intx-masked intx_disabled
    check innocent-not-blamed not decided $virtio '.'
    figure "irq=$irq asserted-at=${asserted_at}s kernel-disabled-line-at=${kernel_at:-never}s" \
        "corral-masked-edu-intx-by=${masked_at}s (polled every 50 ms)" \
        "innocent-virtio-read-64KiB=$innocent in $(elapsed $t0 $t1)s"
    ;;
smmuv3-storm)
    # arm64 guest (virt,iommu=smmuv3); corral and edu-dma are x86_64 binaries under qemu-user.
    edu=$(edu_devices | head -n 1)
    # A driver first: on DT the SMMU installs edu's stream table entry only when one binds, and an
    # unbound device's DMA is C_BAD_STREAMID (event 0x02), not a translation fault.
    echo pci-stub >/sys/bus/pci/devices/$edu/driver_override
    echo $edu >/sys/bus/pci/drivers_probe
    say "$edu driver: $(basename $(readlink /sys/bus/pci/devices/$edu/driver) 2>/dev/null)"
    prepare_edu $edu
    start_corral enforce
    storm_and_watch $edu 100 0x100000
    first=$(first_log_time "event 0x10 received")
    logged=$(dmesg | grep -c 'event 0x10 received')
    stop_corral
    kernel_log
    check bus-master-cleared bus_master_off $edu
    check no-fault-after-containment [ $STORM_FAULTS_AFTER -le 1 ]
    check stream-pinned-on-pci-function decided $edu "bus master"
    check journal-files-events-under-the-function episode $edu dma-fault
    check not-left-as-a-stream not grep -q -E '"(iommu )?9050000.smmuv3' /tmp/history.json
    storm_figures $edu "$first" "$logged" event-records-logged
    ;;
backlog)
    # A storm made before corral runs; corral then starts in enforce mode on that backlog.
    edu=$(edu_devices | head -n 1)
    prepare_edu $edu
    before=$(dmar_interrupts)
    /edu-dma storm $edu 0x100000 40 w >/tmp/storm.out 2>&1
    faults=$(($(dmar_interrupts) - before))
    logged=$(dmesg | grep -c 'DMAR: \[DMA')
    sleep 2
    started_at=$(uptime_s)
    start_corral enforce
    sleep 6
    stop_corral
    kernel_log
    check bus-master-untouched bus_master_on $edu
    if [ $BASELINE = 0 ]; then
        check nothing-written not grep -q -E 'did |would ' /tmp/watch.log
        check journaled-as-history grep -q 'history: logged before corral started' /tmp/history.json
        check storm-counted episode $edu dma-fault
        check not-contained sh -c "[ \"$(state_of $edu)\" != stopped ] && [ \"$(state_of $edu)\" != retired ]"
    fi
    figure "faults=$faults fault-lines-logged=$logged corral-started-at=${started_at}s" \
        "history-decisions=$(grep -c 'history: logged before corral started' /tmp/history.json)" \
        "writes=$(grep -c 'did ' /tmp/watch.log 2>/dev/null) bus-master=$(bus_master_on $edu && echo on || echo off)"
    ;;
alias)
    # edu (slot 1) and an e1000 (slot 0) behind a PCIe-to-PCI bridge: the IOMMU sees every DMA
    # from behind it as (secondary bus, 00.0), the e1000's own address.
    edu=$(edu_devices | head -n 1)
    bridge=$(basename $(dirname $(readlink -f /sys/bus/pci/devices/$edu)))
    nic=$(for d in /sys/bus/pci/devices/*; do [ "$(cat $d/vendor):$(cat $d/device)" = "0x8086:0x100e" ] && echo ${d##*/}; done | head -n 1)
    alias=$(echo $edu | sed 's/\.[0-7]$//; s/:[0-9a-f]*$/:00.0/')
    say "bridge $bridge ($(cat /sys/bus/pci/devices/$bridge/class)), edu $edu, innocent $nic, alias $alias"
    prepare_edu $edu
    # The innocent function masters too (its bus master on), as a NIC with a driver would.
    echo 1 >/sys/bus/pci/devices/$nic/enable
    /edu-dma bm $nic on >/dev/null
    start_corral enforce
    before=$(dmar_interrupts)
    /edu-dma storm $edu 0x100000 60 w >/tmp/storm.out 2>&1 &
    storm_pid=$!
    bridge_off_or_done() { ! bus_master_on $bridge || ! kill -0 $storm_pid 2>/dev/null; }
    wait_for 30 bridge_off_or_done
    contained_at=$(uptime_s)
    at_containment=$(($(dmar_interrupts) - before))
    wait $storm_pid
    sleep 1
    after=$(($(dmar_interrupts) - before - at_containment))
    alias_named=$(dmesg | grep -c "Request device \[$(echo ${alias#0000:})\]")
    first=$(first_log_time "DMAR: \[DMA")
    stop_corral
    kernel_log
    check kernel-names-the-alias [ $alias_named -gt 0 ]
    if [ $BASELINE = 0 ]; then
        check group-contained-through-bridge bus_master_off $bridge
        check no-fault-after-containment [ $after -le 1 ]
        check decision-names-the-group grep -q "requester ID shared by $edu, $nic" /tmp/history.json
        # Every member is stopped with the bridge (QEMU's bridges do not gate what they forward
        # by their own bus master); none is ever the target of a write of its own.
        check members-stopped-with-the-bridge grep -q "did clear bus master below $bridge too: $edu, $nic" /tmp/watch.log
        check no-member-written-alone not grep -q -E "did [a-z ]* of ($edu|$nic)" /tmp/watch.log
    else
        check innocent-untouched bus_master_on $nic
    fi
    figure "alias=$alias lines-naming-alias=$alias_named faults-before=$at_containment faults-after=$after" \
        "first-fault=${first}s bridge-bus-master-cleared=${contained_at}s first-fault-to-containment=$(elapsed "$first" "$contained_at")s" \
        "bridge=$(bus_master_on $bridge && echo on || echo off) edu=$(bus_master_on $edu && echo on || echo off)" \
        "second-function=$(bus_master_on $nic && echo on || echo off)"
    ;;
forged-usb)
    # A USB keyboard whose serial number is a DMAR fault line naming the edu: the kernel prints
    # it at kernel facility (`usb 1-1: SerialNumber: DMAR: ...`) each time it enumerates it.
    edu=$(edu_devices | head -n 1)
    prepare_edu $edu
    modprobe xhci_pci 2>/dev/null
    wait_for 20 sh -c "dmesg | grep -q 'SerialNumber: DMAR'"
    start_corral enforce
    # Each rebind of the xHCI controller enumerates the keyboard again (a port's `disable`
    # takes about 6 s to come back; a rebind well under one).
    xhci=$(basename $(readlink -f /sys/bus/usb/devices/usb1/..))
    say "edu $edu; keyboard on xHCI $xhci"
    n=0
    while [ $n -lt 12 ]; do
        echo $xhci >/sys/bus/pci/drivers/xhci_hcd/unbind
        echo $xhci >/sys/bus/pci/drivers/xhci_hcd/bind
        wait_for 5 present_usb
        n=$((n + 1))
    done 2>/dev/null
    sleep 2
    forged=$(dmesg | grep -c 'SerialNumber: DMAR: \[DMA Write')
    stop_corral
    kernel_log
    dmesg | grep 'SerialNumber' | tail -n 3
    check edu-is-the-named-device [ "$edu" = 0000:01:00.0 ]
    check kernel-printed-the-forgery [ $forged -ge 10 ]
    check edu-untouched bus_master_on $edu
    if [ $BASELINE = 0 ]; then
        check nothing-decided not grep -q "\"subject\":\"$edu\"" /tmp/history.json
        check nothing-written not grep -q -E 'did |would ' /tmp/watch.log
    fi
    figure "forged-lines-printed=$forged decisions-about-edu=$(grep -c "\"subject\":\"$edu\"" /tmp/history.json 2>/dev/null)" \
        "bus-master=$(bus_master_on $edu && echo on || echo off)"
    ;;
root-protected)
    # The guest runs corral from a root file system on the NVMe, mounted by UUID as a
    # distribution would (root=UUID= on the command line); a storm of AER errors at the port
    # above it must get recommendations only.
    modprobe crc32c_generic 2>/dev/null
    modprobe ext4 2>/dev/null
    nvme=$(device_by_class 0x0108)
    port=$(basename $(dirname $(readlink -f /sys/bus/pci/devices/$nvme)))
    wait_for 20 sh -c "[ -b /dev/nvme0n1 ]"
    mkdir -p /newroot
    mount -t ext4 /dev/nvme0n1 /newroot || say "cannot mount /dev/nvme0n1"
    # The file system's UUID from its ext4 superblock (s_uuid at byte 1024 + 0x68; no blkid in
    # busybox), and the one the command line boots by.
    uuid=$(od -An -tx1 -j 1128 -N 16 /dev/nvme0n1 | tr -d ' \n')
    boot_uuid=$(sed -n 's/.*root=UUID=\([^ ]*\).*/\1/p' /proc/cmdline | tr -d '-')
    # What corral and the checks need (busybox, the libraries ldd named, the policies), not the modules.
    for d in bin lib64 usr pg; do [ -e /$d ] && cp -a /$d /newroot/; done
    mkdir -p /newroot/lib
    for x in /lib/*; do [ "$x" = /lib/modules ] || cp -a $x /newroot/lib/; done
    cp -a /corral /edu-dma /newroot/
    mkdir -p /newroot/proc /newroot/sys /newroot/dev /newroot/tmp
    mount -t proc proc /newroot/proc
    mount -t sysfs sysfs /newroot/sys
    mount -t devtmpfs devtmpfs /newroot/dev
    mount -t tmpfs tmpfs /newroot/tmp
    /edu-dma errrep $port
    say "root: $(chroot /newroot sh -c 'grep " / / " /proc/self/mountinfo') (UUID $uuid); nvme $nvme below $port"
    if [ $BASELINE = 0 ]; then
        chroot /newroot /corral watch --mode enforce --config /pg/root-protected.yaml --journal /tmp/journal.sqlite \
            --interval 50ms >/newroot/tmp/watch.log 2>&1 &
        CORRAL_PID=$!
        wait_for 120 grep -q "watching" /newroot/tmp/watch.log
    fi
    n=1
    while [ $n -le 5 ]; do
        echo "PG-MARK inject-$n"
        wait_for 30 sh -c "[ \$(dmesg | grep -c 'error message received from $port') -ge $n ]"
        wait_for 10 sh -c "[ \$(dmesg | grep -c 'AER: device recovery') -ge $n ]"
        n=$((n + 1))
    done
    sleep 3
    if [ $BASELINE = 0 ]; then
        kill -TERM $CORRAL_PID && wait $CORRAL_PID
        echo "===== corral watch log"
        cat /newroot/tmp/watch.log
        chroot /newroot /corral status --journal /tmp/journal.sqlite --json >/tmp/status.json 2>&1
        chroot /newroot /corral history --journal /tmp/journal.sqlite --json >/tmp/history.json 2>&1
        echo "===== corral status"
        chroot /newroot /corral status --journal /tmp/journal.sqlite
        echo "===== corral history --json"
        cat /tmp/history.json
    fi
    kernel_log
    check root-by-uuid-on-nvme [ -n "$uuid" -a "$uuid" = "$boot_uuid" ]
    check port-bus-master-untouched bus_master_on $port
    check nvme-still-usable sh -c "dd if=/dev/nvme0n1 of=/dev/null bs=4096 count=64 2>/dev/null"
    if [ $BASELINE = 0 ]; then
        protected_as_root() { grep -F "\"device\":\"$1\"" /tmp/status.json | grep -q -F '"protected":["holds / (the boot device'; }
        check nvme-protected-as-root protected_as_root $nvme
        check storm-at-port-recommended decided $port 'bus master'
        check nothing-carried-out-at-port not carried_out $port
        check reason-names-the-root-disk grep -q "would reach protected $nvme: holds /" /tmp/history.json
        check nothing-written not grep -q 'did ' /newroot/tmp/watch.log
    fi
    figure "errors-injected=5 errors-logged=$(dmesg | grep -c "error message received from $port")" \
        "recommendations=$(grep "\"subject\":\"$port\"" /tmp/history.json 2>/dev/null | grep -c '"recommendation":true')" \
        "writes=$(grep -c 'did ' /newroot/tmp/watch.log 2>/dev/null) port-bus-master=$(bus_master_on $port && echo on || echo off)"
    ;;
probe)
    # Not a test: what the guest has (scripts/proving-ground --probe, for debugging a new guest).
    uname -a
    /corral --version
    /corral policy check /pg/policy.yaml | head -n 1
    for d in /sys/bus/pci/devices/*; do echo "${d##*/} $(cat $d/vendor):$(cat $d/device) irq=$(cat $d/irq)"; done
    ls /sys/class/iommu
    grep -i -E 'smmu|dmar' /proc/interrupts
    ;;
*)
    say "unknown scenario $SCENARIO"
    exit 2
    ;;
esac
