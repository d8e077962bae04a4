/*
 * vfio-open.h: the VFIO set-up the proving ground's guest tools share (vfio-msi.c, vfio-dma.c).
 *
 * The legacy container/group interface (Documentation/driver-api/vfio.rst, "VFIO Usage
 * Example"): the device's IOMMU group from its iommu_group link, a type1 container, the device
 * file. The group must be viable (every device in it bound to vfio-pci or to nothing) and the
 * device bound to vfio-pci. Any failure ends the program with status 2.
 */
#ifndef VFIO_OPEN_H
#define VFIO_OPEN_H
#include <fcntl.h>
#include <libgen.h>
#include <linux/vfio.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

static void vfio_die(const char *what) {
    perror(what);
    exit(2);
}

/* The device's file; *container_out gets the container (for VFIO_IOMMU_MAP_DMA). */
static int vfio_open_device(const char *bdf, int *container_out) {
    char path[256], link[256];
    snprintf(path, sizeof path, "/sys/bus/pci/devices/%s/iommu_group", bdf);
    ssize_t n = readlink(path, link, sizeof link - 1);
    if (n < 0) vfio_die("iommu_group");
    link[n] = 0;
    int container = open("/dev/vfio/vfio", O_RDWR);
    if (container < 0) vfio_die("/dev/vfio/vfio");
    snprintf(path, sizeof path, "/dev/vfio/%s", basename(link));
    int group = open(path, O_RDWR);
    if (group < 0) vfio_die(path);
    struct vfio_group_status status = {.argsz = sizeof status};
    if (ioctl(group, VFIO_GROUP_GET_STATUS, &status) < 0) vfio_die("VFIO_GROUP_GET_STATUS");
    if (!(status.flags & VFIO_GROUP_FLAGS_VIABLE)) {
        fprintf(stderr, "vfio: group %s is not viable\n", basename(link));
        exit(2);
    }
    if (ioctl(group, VFIO_GROUP_SET_CONTAINER, &container) < 0) vfio_die("VFIO_GROUP_SET_CONTAINER");
    if (ioctl(container, VFIO_SET_IOMMU, VFIO_TYPE1_IOMMU) < 0) vfio_die("VFIO_SET_IOMMU");
    int device = ioctl(group, VFIO_GROUP_GET_DEVICE_FD, bdf);
    if (device < 0) vfio_die("VFIO_GROUP_GET_DEVICE_FD");
    if (container_out) *container_out = container;
    return device;
}

/* BAR0, mapped through VFIO's region (edu's registers). */
static volatile void *vfio_map_bar0(int device) {
    struct vfio_region_info bar0 = {.argsz = sizeof bar0, .index = VFIO_PCI_BAR0_REGION_INDEX};
    if (ioctl(device, VFIO_DEVICE_GET_REGION_INFO, &bar0) < 0) vfio_die("VFIO_DEVICE_GET_REGION_INFO");
    void *bar = mmap(NULL, bar0.size, PROT_READ | PROT_WRITE, MAP_SHARED, device, bar0.offset);
    if (bar == MAP_FAILED) vfio_die("mmap BAR0");
    return bar;
}

/* Sets bits of the command register (0x4: Bus Master Enable) through VFIO's config region, as a
 * VMM does. */
static void vfio_set_command(int device, uint16_t bits) {
    struct vfio_region_info config = {.argsz = sizeof config, .index = VFIO_PCI_CONFIG_REGION_INDEX};
    if (ioctl(device, VFIO_DEVICE_GET_REGION_INFO, &config) < 0) vfio_die("VFIO_DEVICE_GET_REGION_INFO (config)");
    uint16_t command;
    if (pread(device, &command, 2, config.offset + 4) != 2) vfio_die("read command");
    command |= bits;
    if (pwrite(device, &command, 2, config.offset + 4) != 2) vfio_die("write command");
}
#endif
