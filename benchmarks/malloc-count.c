// Counts heap allocations for corral-bench (LD_PRELOAD=libmalloccount.so): every malloc-family
// call increments one counter, read back with dlsym("corral_malloc_count").
#define _GNU_SOURCE
#include <stddef.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

static unsigned long long count;
void corral_malloc_trace_point(void);

unsigned long long corral_malloc_count(void) { return __atomic_load_n(&count, __ATOMIC_RELAXED); }

void *malloc(size_t size) {
    __atomic_fetch_add(&count, 1, __ATOMIC_RELAXED);
    corral_malloc_trace_point();
    return __libc_malloc(size);
}

void *calloc(size_t n, size_t size) {
    __atomic_fetch_add(&count, 1, __ATOMIC_RELAXED);
    return __libc_calloc(n, size);
}

void *realloc(void *pointer, size_t size) {
    __atomic_fetch_add(&count, 1, __ATOMIC_RELAXED);
    return __libc_realloc(pointer, size);
}

int posix_memalign(void **out, size_t alignment, size_t size) {
    __atomic_fetch_add(&count, 1, __ATOMIC_RELAXED);
    void *pointer = __libc_memalign(alignment, size);
    if (!pointer) return 12;
    *out = pointer;
    return 0;
}

void *aligned_alloc(size_t alignment, size_t size) {
    __atomic_fetch_add(&count, 1, __ATOMIC_RELAXED);
    return __libc_memalign(alignment, size);
}

// With CORRAL_MALLOC_TRACE=1, corral-bench switches tracing on around one record per vendor and
// every allocation prints its call stack to stderr (addresses: `addr2line -f -e BINARY ADDR |
// swift demangle`). That is how the per-record allocations in ANALYSIS.md were found.
#include <execinfo.h>
#include <stdlib.h>
#include <unistd.h>
static int tracing;
static __thread int inside;
void corral_malloc_trace(int on) { tracing = on && getenv("CORRAL_MALLOC_TRACE") != NULL; }
void corral_malloc_trace_point(void) {
    if (!tracing || inside) return;
    inside = 1;
    void *frames[16];
    int count = backtrace(frames, 16);
    write(2, "--- malloc\n", 11);
    backtrace_symbols_fd(frames, count, 2);
    inside = 0;
}
