/*
 * vfio-dma: the edu with a real DMA mapping, run inside the guest (kernel-half scenarios).
 *
 * Bound to vfio-pci, the edu gets a type1 container with one 4 KiB buffer mapped at IOVA
 * 0x100000 (VFIO_IOMMU_MAP_DMA). Then, in order:
 *   1. STORM DMAs to unmapped IOVAs (0x400000 + i pages): each one faults;
 *   2. wait (at most 20 s) until FAULTS/silenced reads "1" (the device's iommu_faults/);
 *   3. a round trip through the mapping: RAM -> edu buffer -> RAM (another offset), checked;
 *   4. AFTER more DMAs to unmapped IOVAs, which fault without being recorded if silenced.
 * It prints "vfio-dma: mapped round trip ok" or "... FAILED", and FAULTS/total before and
 * after step 4 ("vfio-dma: total before N after M").
 *
 *   vfio-dma BDF STORM FAULTS AFTER
 *
 * edu registers as in edu-dma.c (QEMU docs/specs/edu.rst); the engine runs one transfer per
 * 100 ms timer tick. Bus master is set through VFIO's config region, as a VMM does. Exit
 * status: 0 round trip ok, 1 round trip failed, 2 setup error.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <libgen.h>
#include <linux/vfio.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "vfio-open.h"

enum { EDU_DMA_SRC = 0x80, EDU_DMA_DST = 0x88, EDU_DMA_LEN = 0x90, EDU_DMA_CMD = 0x98 };
static const uint64_t edu_buffer = 0x40000, mapped_iova = 0x100000, unmapped_iova = 0x400000;

static void die(const char *what) {
    perror(what);
    exit(2);
}

static void sleep_ms(long ms) {
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

static void w64(volatile uint8_t *bar, int offset, uint64_t value) { *(volatile uint64_t *)(bar + offset) = value; }
static uint64_t r64(volatile uint8_t *bar, int offset) { return *(volatile uint64_t *)(bar + offset); }

/* One 8-byte DMA between the edu's buffer and IOVA; waits (at most 2 s) for the engine. */
static void dma(volatile uint8_t *bar, uint64_t iova, uint64_t device_offset, int to_ram) {
    w64(bar, EDU_DMA_SRC, to_ram ? edu_buffer + device_offset : iova);
    w64(bar, EDU_DMA_DST, to_ram ? iova : edu_buffer + device_offset);
    w64(bar, EDU_DMA_LEN, 8);
    w64(bar, EDU_DMA_CMD, to_ram ? 0x3 : 0x1);
    for (int i = 0; i < 400; i++) {
        if (!(r64(bar, EDU_DMA_CMD) & 1)) return;
        sleep_ms(5);
    }
    fprintf(stderr, "vfio-dma: DMA engine still busy after 2 s\n");
    exit(2);
}

/* The number in FAULTS/NAME, or -1. */
static long long read_number(const char *faults, const char *name) {
    char path[512], text[32] = {0};
    snprintf(path, sizeof path, "%s/%s", faults, name);
    int fd = open(path, O_RDONLY);
    if (fd < 0) return -1;
    ssize_t n = read(fd, text, sizeof text - 1);
    close(fd);
    return n > 0 ? strtoll(text, NULL, 10) : -1;
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: vfio-dma BDF STORM FAULTS AFTER\n");
        return 2;
    }
    const char *bdf = argv[1], *faults = argv[3];
    long storm = strtol(argv[2], NULL, 0), after = strtol(argv[4], NULL, 0);
    int container;
    int device = vfio_open_device(bdf, &container);

    volatile uint8_t *ram = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (ram == MAP_FAILED) die("mmap buffer");
    struct vfio_iommu_type1_dma_map map = {
        .argsz = sizeof map,
        .flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
        .vaddr = (uintptr_t)ram,
        .iova = mapped_iova,
        .size = 4096,
    };
    if (ioctl(container, VFIO_IOMMU_MAP_DMA, &map) < 0) die("VFIO_IOMMU_MAP_DMA");

    volatile uint8_t *bar = vfio_map_bar0(device);
    vfio_set_command(device, 0x6); /* memory space, bus master */

    for (long i = 0; i < storm; i++) dma(bar, unmapped_iova + (uint64_t)i * 4096, 0, 1);
    printf("vfio-dma: %s: %ld DMAs to unmapped addresses done\n", bdf, storm);
    fflush(stdout);
    long long silenced = 0;
    for (int i = 0; i < 200 && (silenced = read_number(faults, "silenced")) != 1; i++) sleep_ms(100);
    printf("vfio-dma: %s/silenced reads %lld\n", faults, silenced);

    const uint64_t pattern = 0xc0441a1d5eedf00dULL;
    *(volatile uint64_t *)ram = pattern;
    *(volatile uint64_t *)(ram + 0x800) = 0;
    dma(bar, mapped_iova, 0x100, 0);          /* RAM -> edu buffer + 0x100 */
    dma(bar, mapped_iova + 0x800, 0x100, 1);  /* edu buffer + 0x100 -> RAM + 0x800 */
    uint64_t back = *(volatile uint64_t *)(ram + 0x800);
    int ok = back == pattern;
    printf("vfio-dma: mapped round trip %s (0x%016llx)\n", ok ? "ok" : "FAILED", (unsigned long long)back);
    fflush(stdout);

    long long before = read_number(faults, "total");
    for (long i = 0; i < after; i++) dma(bar, unmapped_iova + (uint64_t)(storm + i) * 4096, 0, 1);
    printf("vfio-dma: %s: %ld more DMAs to unmapped addresses done\n", bdf, after);
    printf("vfio-dma: total before %lld after %lld\n", before, read_number(faults, "total"));
    return ok ? 0 : 1;
}
