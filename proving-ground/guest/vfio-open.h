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
#include <sys/ioctl.h>
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
#endif
