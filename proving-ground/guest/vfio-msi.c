/*
 * vfio-msi: a device whose own MSI fires far above its normal rate while its driver handles
 * every one (the proving ground's handled interrupt flood), run inside the guest.
 *
 * QEMU's edu (docs/specs/edu.rst) raises its interrupt on every write to BAR0 + 0x60; with MSI
 * enabled each write is one MSI (hw/misc/edu.c edu_raise_irq -> msi_notify). Bound to vfio-pci,
 * the device's MSI is enabled by VFIO_DEVICE_SET_IRQS with an eventfd, and the kernel's handler
 * (vfio_msihandler, "vfio-msi[0](BDF)" in /proc/interrupts) handles each one: IRQ_HANDLED, so
 * the kernel's unhandled-interrupt detector never sees anything wrong.
 *
 *   vfio-msi BDF SECONDS    write 0x60 in a loop for SECONDS; print writes and interrupts
 *
 * The group must be viable (edu alone behind its root port) and edu bound to vfio-pci first
 * (echo 1234 11e8 > /sys/bus/pci/drivers/vfio-pci/new_id). Exit status: 0 done, 2 error.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <libgen.h>
#include <linux/vfio.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "vfio-open.h"

static void die(const char *what) {
    perror(what);
    exit(2);
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: vfio-msi BDF SECONDS\n");
        return 2;
    }
    const char *bdf = argv[1];
    double seconds = atof(argv[2]);
    int device = vfio_open_device(bdf, NULL);

    volatile uint32_t *regs = vfio_map_bar0(device);

    /* An MSI is a memory write by the device: no Bus Master Enable, no MSI (QEMU sends it through
     * the device's bus-master address space). */
    vfio_set_command(device, 0x4);

    /* MSI vector 0 -> an eventfd: vfio-pci enables MSI and requests the interrupt. */
    int event = eventfd(0, EFD_NONBLOCK);
    if (event < 0) die("eventfd");
    char buffer[sizeof(struct vfio_irq_set) + sizeof(int32_t)];
    struct vfio_irq_set *set = (struct vfio_irq_set *)buffer;
    set->argsz = sizeof buffer;
    set->flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
    set->index = VFIO_PCI_MSI_IRQ_INDEX;
    set->start = 0;
    set->count = 1;
    memcpy(set->data, &event, sizeof(int32_t));
    if (ioctl(device, VFIO_DEVICE_SET_IRQS, set) < 0) die("VFIO_DEVICE_SET_IRQS (MSI)");
    printf("vfio-msi: %s MSI enabled; flooding for %.0f s\n", bdf, seconds);
    fflush(stdout);

    uint64_t writes = 0, interrupts = 0, value;
    double start = now(), end = start + seconds;
    while (now() < end) {
        for (int i = 0; i < 256; i++) regs[0x60 / 4] = 1; /* raise: one MSI each */
        writes += 256;
        if (read(event, &value, sizeof value) == sizeof value) interrupts += value;
    }
    usleep(100000);
    if (read(event, &value, sizeof value) == sizeof value) interrupts += value;
    double took = now() - start;
    printf("vfio-msi: %llu writes, %llu interrupts handled in %.1f s (%.0f/s)\n", (unsigned long long)writes,
           (unsigned long long)interrupts, took, interrupts / took);
    /* Quiet again: MSI off (the device stays bound, as a VM's device would). */
    set->flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER;
    set->count = 0;
    set->argsz = sizeof(struct vfio_irq_set);
    ioctl(device, VFIO_DEVICE_SET_IRQS, set);
    return 0;
}
