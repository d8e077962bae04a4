/*
 * edu-dma: the proving ground's "misbehaving device" driver, run inside the guest.
 *
 * QEMU's `edu` PCI device (vendor 0x1234, device 0x11e8; QEMU docs/specs/edu.rst) has a DMA
 * engine: BAR0 + 0x80 source, 0x88 destination, 0x90 length, 0x98 command (bit 0 start,
 * bit 1 direction: 1 = device buffer -> RAM, i.e. a DMA *write*; bit 2 raise an interrupt when
 * done). The device's own buffer is at device address 0x40000. BAR0 + 0x60 raises and 0x64
 * acknowledges its interrupt (INTx when MSI is off). QEMU runs one transfer per 100 ms timer
 * tick, so one edu makes at most ~10 DMAs per second.
 *
 * With no driver bound, the IOMMU gives the device an empty DMA domain: every DMA it makes to
 * any IOVA faults, which is exactly the "driverless device doing DMA" the scenarios need.
 *
 *   edu-dma bm BDF on|off|show           Bus Master Enable through the sysfs config file
 *   edu-dma dma BDF IOVA r|w             one 8-byte DMA
 *   edu-dma storm BDF IOVA N r|w [GAP_MS] N DMAs one page apart (GAP_MS between them)
 *   edu-dma intx BDF on|off              assert / deassert the legacy interrupt
 *   edu-dma errrep BDF                   set SERR# and the PCIe error-reporting enables
 *
 * Registers are reached by mmap of /sys/bus/pci/devices/BDF/resource0 (CONFIG_STRICT_DEVMEM
 * forbids /dev/mem). Exit status: 0 done, 1 usage or I/O error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

enum {
    EDU_IDENT = 0x00,
    EDU_RAISE = 0x60,
    EDU_ACK = 0x64,
    EDU_DMA_SRC = 0x80,
    EDU_DMA_DST = 0x88,
    EDU_DMA_LEN = 0x90,
    EDU_DMA_CMD = 0x98,
};
static const uint64_t edu_buffer = 0x40000;

static int fail(const char *what, const char *path) {
    fprintf(stderr, "edu-dma: %s %s: %s\n", what, path, strerror(errno));
    return 1;
}

static int config_rw(const char *bdf, int offset, uint16_t *value, int write_it) {
    char path[256];
    snprintf(path, sizeof path, "/sys/bus/pci/devices/%s/config", bdf);
    int fd = open(path, write_it ? O_RDWR : O_RDONLY);
    if (fd < 0) return fail("open", path);
    ssize_t n = write_it ? pwrite(fd, value, 2, offset) : pread(fd, value, 2, offset);
    close(fd);
    if (n != 2) return fail(write_it ? "write" : "read", path);
    return 0;
}

static volatile uint8_t *map_bar0(const char *bdf) {
    char path[256];
    snprintf(path, sizeof path, "/sys/bus/pci/devices/%s/resource0", bdf);
    int fd = open(path, O_RDWR | O_SYNC);
    if (fd < 0) { fail("open", path); return NULL; }
    void *bar = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (bar == MAP_FAILED) { fail("mmap", path); return NULL; }
    uint32_t ident = *(volatile uint32_t *)bar;
    if ((ident & 0xff) != 0xed) {
        fprintf(stderr, "edu-dma: %s: identification register 0x%08x is not edu's (memory decode off?)\n",
                bdf, ident);
        return NULL;
    }
    return bar;
}

static void w64(volatile uint8_t *bar, int offset, uint64_t value) { *(volatile uint64_t *)(bar + offset) = value; }
static uint64_t r64(volatile uint8_t *bar, int offset) { return *(volatile uint64_t *)(bar + offset); }

static void sleep_ms(long ms) {
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&t, &t) == -1 && errno == EINTR) {}
}

/* One DMA; waits (at most 2 s) for the engine to finish so the next one can start. */
static int one_dma(volatile uint8_t *bar, uint64_t iova, int write_to_ram) {
    w64(bar, EDU_DMA_SRC, write_to_ram ? edu_buffer : iova);
    w64(bar, EDU_DMA_DST, write_to_ram ? iova : edu_buffer);
    w64(bar, EDU_DMA_LEN, 8);
    w64(bar, EDU_DMA_CMD, write_to_ram ? 0x3 : 0x1);
    for (int i = 0; i < 400; i++) {
        if (!(r64(bar, EDU_DMA_CMD) & 1)) return 0;
        sleep_ms(5);
    }
    fprintf(stderr, "edu-dma: DMA engine still busy after 2 s\n");
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: edu-dma bm|dma|storm|intx|errrep BDF ... (see the source's header)\n");
        return 1;
    }
    const char *verb = argv[1], *bdf = argv[2];
    if (!strcmp(verb, "bm")) {
        uint16_t command;
        if (config_rw(bdf, 4, &command, 0)) return 1;
        if (argc > 3 && strcmp(argv[3], "show")) {
            /* memory decode stays on: the scenarios need BAR0 to drive the device */
            command = !strcmp(argv[3], "on") ? (command | 0x6) : (command & ~0x4);
            if (config_rw(bdf, 4, &command, 1)) return 1;
            if (config_rw(bdf, 4, &command, 0)) return 1;
        }
        printf("%s bus-master=%s command=0x%04x\n", bdf, (command & 4) ? "on" : "off", command);
        return 0;
    }
    if (!strcmp(verb, "errrep")) {
        uint16_t command, status;
        if (config_rw(bdf, 4, &command, 0)) return 1;
        command |= 0x100; /* SERR# enable */
        if (config_rw(bdf, 4, &command, 1)) return 1;
        if (config_rw(bdf, 6, &status, 0)) return 1;
        if (!(status & 0x10)) return 0; /* no capability list */
        uint16_t pointer;
        if (config_rw(bdf, 0x34, &pointer, 0)) return 1;
        for (int p = pointer & 0xfc, n = 0; p && n < 48; n++) {
            uint16_t header;
            if (config_rw(bdf, p, &header, 0)) return 1;
            if ((header & 0xff) == 0x10) { /* PCI Express capability: DEVCTL at +8 */
                uint16_t control;
                if (config_rw(bdf, p + 8, &control, 0)) return 1;
                control |= 0xf; /* correctable, non-fatal, fatal, unsupported request reporting */
                return config_rw(bdf, p + 8, &control, 1);
            }
            p = (header >> 8) & 0xfc;
        }
        return 0;
    }
    volatile uint8_t *bar = map_bar0(bdf);
    if (!bar) return 1;
    if (!strcmp(verb, "intx") && argc > 3) {
        *(volatile uint32_t *)(bar + (strcmp(argv[3], "on") ? EDU_ACK : EDU_RAISE)) = 1;
        return 0;
    }
    if (!strcmp(verb, "dma") && argc > 4) {
        return one_dma(bar, strtoull(argv[3], NULL, 0), argv[4][0] == 'w');
    }
    if (!strcmp(verb, "storm") && argc > 5) {
        uint64_t iova = strtoull(argv[3], NULL, 0);
        long count = strtol(argv[4], NULL, 0), gap = argc > 6 ? strtol(argv[6], NULL, 0) : 0;
        for (long i = 0; i < count; i++) {
            if (one_dma(bar, iova + (uint64_t)i * 4096, argv[5][0] == 'w')) return 1;
            if (gap > 0) sleep_ms(gap);
        }
        printf("edu-dma: %s: %ld DMAs done\n", bdf, count);
        return 0;
    }
    fprintf(stderr, "edu-dma: unknown or incomplete command '%s'\n", verb);
    return 1;
}
