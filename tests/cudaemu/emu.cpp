/*
 * tests/cudaemu/emu.cpp -- the CUDA emulator's runtime: fibers for the
 * threads of a block, barriers, warp exchanges, device memory with guard
 * zones, the sticky launch error.  See cuda_runtime.h for what is modelled.
 */
#include "cuda_runtime.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <ucontext.h>
#include <map>
#include <vector>
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#define TP_EMU_ASAN 1   /* tell AddressSanitizer about every stack switch */
#endif

thread_local uint3 tp_emu_thread_idx, tp_emu_block_idx;
thread_local dim3 tp_emu_block_dim, tp_emu_grid_dim;

namespace {

const size_t STACK = 256 * 1024;   /* per waiting fiber; kernels keep small arrays on it */
const size_t GUARD = 256;          /* bytes after every allocation, checked after every launch */
const unsigned char GUARD_BYTE = 0xa5;

enum State { READY, WAIT_BLOCK, WAIT_WARP, DONE };

/* Context switches: on x86-64 a minimal switch of the callee-saved
 * registers (glibc's swapcontext also saves the signal mask, a system call
 * per switch); elsewhere ucontext. */
#if defined(__x86_64__)
extern "C" void tp_emu_switch(void **save_sp, void *load_sp);
__asm__(".text\n"
        ".globl tp_emu_switch\n"
        ".type tp_emu_switch,@function\n"
        "tp_emu_switch:\n"
        "  pushq %rbp\n  pushq %rbx\n  pushq %r12\n  pushq %r13\n  pushq %r14\n  pushq %r15\n"
        "  subq $8, %rsp\n  stmxcsr (%rsp)\n  fnstcw 4(%rsp)\n"
        "  movq %rsp, (%rdi)\n  movq %rsi, %rsp\n"
        "  ldmxcsr (%rsp)\n  fldcw 4(%rsp)\n  addq $8, %rsp\n"
        "  popq %r15\n  popq %r14\n  popq %r13\n  popq %r12\n  popq %rbx\n  popq %rbp\n"
        "  ret\n"
        ".size tp_emu_switch, .-tp_emu_switch\n");
struct Context { void *sp = nullptr; };
void fiber_entry();
/* a fresh frame on stack [lo, lo + size) that 'returns' into fiber_entry */
void context_init(Context &c, char *lo, size_t size) {
    uint64_t *top = (uint64_t *)(((uintptr_t)(lo + size)) & ~(uintptr_t)15);
    uint32_t csr[2];
    __asm__ volatile("stmxcsr %0\n fnstcw %1" : "=m"(csr[0]), "=m"(csr[1]));
    top[-1] = 0;                              /* fiber_entry's return address: never used */
    top[-2] = (uint64_t)(uintptr_t)fiber_entry;
    for (int r = 3; r <= 8; r++) top[-r] = 0;  /* rbp rbx r12 r13 r14 r15 */
    memcpy(&top[-9], csr, 8);
    c.sp = &top[-9];
}
void context_switch(Context &from, Context &to) { tp_emu_switch(&from.sp, to.sp); }
#else
struct Context { ucontext_t uc; };
void fiber_entry();
void context_init(Context &c, char *lo, size_t size) {
    getcontext(&c.uc);
    c.uc.uc_stack.ss_sp = lo;
    c.uc.uc_stack.ss_size = size;
    c.uc.uc_link = nullptr;
    makecontext(&c.uc, fiber_entry, 0);
}
void context_switch(Context &from, Context &to) { swapcontext(&from.uc, &to.uc); }
#endif

struct Fiber {
    Context ctx;
    char *stack = nullptr;   /* from the block's pool while the fiber runs or waits */
    State state = READY;
    bool started = false;
    uint3 tid;
};

/* Threads that finish without waiting give their stack back at once, so a
 * kernel without barriers runs every thread on one stack. */
struct Block {
    Context sched;
    std::vector<Fiber> fibers;
    std::vector<char *> free_stacks, all_stacks;
    const std::function<void()> *body = nullptr;
    int cur = -1;
    unsigned char slots[1024][16];  /* warp exchange: one value per thread */
    const char *kernel = "";
    bool failed = false;
    const void *sched_lo = nullptr;   /* the scheduler's stack, for AddressSanitizer */
    size_t sched_size = 0;
    char *take_stack() {
        if (free_stacks.empty()) {
            void *m = mmap(nullptr, STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
            if (m == MAP_FAILED) return nullptr;
            all_stacks.push_back((char *)m);
            return (char *)m;
        }
        char *st = free_stacks.back();
        free_stacks.pop_back();
        return st;
    }
};

thread_local Block *blk = nullptr;
thread_local cudaError_t sticky = cudaSuccess;
std::map<char *, size_t> allocations;   /* device pointer -> requested size */

void fail(cudaError_t e, const char *fmt, const char *kernel, const char *what) {
    fprintf(stderr, "cuda emulator: %s: ", kernel);
    fprintf(stderr, fmt, what);
    fputc('\n', stderr);
    if (sticky == cudaSuccess) sticky = e;
}

/* scheduler -> fiber f, back when f waits or ends */
void enter_fiber(Block &b, Fiber &f) {
#ifdef TP_EMU_ASAN
    void *fake = nullptr;
    __sanitizer_start_switch_fiber(&fake, f.stack, STACK);
#endif
    context_switch(b.sched, f.ctx);
#ifdef TP_EMU_ASAN
    __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#endif
}

/* fiber -> scheduler; returns when the fiber is resumed (never if it ends) */
void leave_fiber(Block *b, Fiber &f) {
#ifdef TP_EMU_ASAN
    void *fake = nullptr;
    __sanitizer_start_switch_fiber(f.state == DONE ? nullptr : &fake, b->sched_lo, b->sched_size);
#endif
    context_switch(f.ctx, b->sched);
#ifdef TP_EMU_ASAN
    __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#endif
}

void fiber_entry() {
    Block *b = blk;
#ifdef TP_EMU_ASAN
    __sanitizer_finish_switch_fiber(nullptr, &b->sched_lo, &b->sched_size);
#endif
    (*b->body)();
    b->fibers[b->cur].state = DONE;
    leave_fiber(b, b->fibers[b->cur]);
}

/* back to the scheduler, waiting in state s */
void wait(State s) {
    Block *b = blk;
    Fiber &f = b->fibers[b->cur];
    f.state = s;
    leave_fiber(b, f);
}

void check_guards(const char *kernel) {
#ifdef TP_EMU_ASAN
    (void)kernel;
    return;   /* the guard zones are poisoned: AddressSanitizer reports the access itself */
#endif
    for (auto &a : allocations)
        for (size_t i = 0; i < GUARD; i++)
            if ((unsigned char)a.first[a.second + i] != GUARD_BYTE) {
                char what[96];
                snprintf(what, sizeof what, "%zu bytes after an allocation of %zu", i, a.second);
                fail(cudaErrorIllegalAddress, "write past the end of device memory (%s)", kernel, what);
                memset(a.first + a.second, GUARD_BYTE, GUARD);
                break;
            }
}

/* stacks of threads abandoned in a failed block go back to the pool */
void reclaim(Block &b, unsigned n) {
    for (unsigned t = 0; t < n; t++)
        if (b.fibers[t].stack) { b.free_stacks.push_back(b.fibers[t].stack); b.fibers[t].stack = nullptr; }
}

/* run one block to completion; false when its threads cannot go on */
bool run_block(Block &b, unsigned n) {
    for (unsigned t = 0; t < n; t++) {
        Fiber &f = b.fibers[t];
        f.state = READY;
        f.started = false;
        f.tid = { t % tp_emu_block_dim.x, (t / tp_emu_block_dim.x) % tp_emu_block_dim.y,
                  t / (tp_emu_block_dim.x * tp_emu_block_dim.y) };
    }
    for (;;) {
        bool ran = false;
        for (unsigned t = 0; t < n; t++) {
            Fiber &f = b.fibers[t];
            if (f.state != READY) continue;
            if (!f.started) {
                if (!(f.stack = b.take_stack())) {
                    fail(cudaErrorMemoryAllocation, "%s", b.kernel, "no memory for fiber stacks");
                    return false;
                }
#ifdef TP_EMU_ASAN
                /* a reused stack still has the poisoned frames of the fiber that ended on it */
                __asan_unpoison_memory_region(f.stack, STACK);
#endif
                context_init(f.ctx, f.stack, STACK);
                f.started = true;
            }
            b.cur = (int)t;
            tp_emu_thread_idx = f.tid;
            enter_fiber(b, f);
            ran = true;
            if (f.state == DONE) { b.free_stacks.push_back(f.stack); f.stack = nullptr; }
            if (b.failed) { reclaim(b, n); return false; }
        }
        if (ran) continue;
        /* nobody can run: release a barrier whose every live thread has arrived */
        bool alive = false, block_ready = true, released = false;
        for (unsigned t = 0; t < n; t++)
            if (b.fibers[t].state != DONE) { alive = true; block_ready &= b.fibers[t].state == WAIT_BLOCK; }
        if (!alive) return true;
        if (block_ready) {
            for (unsigned t = 0; t < n; t++)
                if (b.fibers[t].state == WAIT_BLOCK) b.fibers[t].state = READY;
            continue;
        }
        for (unsigned w = 0; w * 32 < n; w++) {
            bool any = false, all = true;
            for (unsigned t = w * 32; t < n && t < w * 32 + 32; t++) {
                State s = b.fibers[t].state;
                if (s == DONE) continue;
                any = true;
                all &= s == WAIT_WARP;
            }
            if (any && all) {
                for (unsigned t = w * 32; t < n && t < w * 32 + 32; t++)
                    if (b.fibers[t].state == WAIT_WARP) b.fibers[t].state = READY;
                released = true;
            }
        }
        if (!released) {
            fail(cudaErrorLaunchFailure, "%s", b.kernel,
                 "deadlock: threads wait at __syncthreads and at a warp shuffle at once (divergent barrier)");
            reclaim(b, n);
            return false;
        }
    }
}

} // namespace

void tp_emu_run(const char *name, dim3 grid, dim3 block, const std::function<void()> &body) {
    unsigned long long nb = (unsigned long long)grid.x * grid.y * grid.z;
    unsigned n = block.x * block.y * block.z;
    if (nb == 0 || n == 0 || n > 1024 || grid.y > 65535 || grid.z > 65535 || block.z > 64) {
        char what[128];
        snprintf(what, sizeof what, "grid (%u, %u, %u), block (%u, %u, %u)", grid.x, grid.y, grid.z, block.x,
                 block.y, block.z);
        fail(cudaErrorInvalidConfiguration, "invalid launch configuration: %s", name, what);
        return;
    }
    if (blk) { fail(cudaErrorLaunchFailure, "%s", name, "kernel launched from device code"); return; }
    static thread_local Block *pool = nullptr;
    if (!pool) pool = new Block();
    Block &b = *pool;
    if (b.fibers.size() < n) b.fibers.resize(n);
    b.body = &body;
    b.kernel = name;
    b.failed = false;
    tp_emu_grid_dim = grid;
    tp_emu_block_dim = block;
    blk = &b;
    bool ok = true;
    for (unsigned z = 0; z < grid.z && ok; z++)
        for (unsigned y = 0; y < grid.y && ok; y++)
            for (unsigned x = 0; x < grid.x && ok; x++) {
                tp_emu_block_idx = { x, y, z };
                ok = run_block(b, n);
            }
    blk = nullptr;
    check_guards(name);
}

void __syncthreads(void) {
    if (!blk) { fail(cudaErrorLaunchFailure, "%s", "host", "__syncthreads outside a kernel"); return; }
    wait(WAIT_BLOCK);
}

void tp_emu_warp_exchange(unsigned mask, const void *in, void *out, size_t size, int src_lane) {
    Block *b = blk;
    unsigned t = (unsigned)b->cur, w0 = t / 32 * 32;
    unsigned n = tp_emu_block_dim.x * tp_emu_block_dim.y * tp_emu_block_dim.z;
    memcpy(b->slots[t], in, size);
    wait(WAIT_WARP);
    for (unsigned l = 0; l < 32; l++)
        if ((mask >> l & 1u) && (w0 + l >= n || b->fibers[w0 + l].state == DONE)) {
            fail(cudaErrorLaunchFailure, "%s", b->kernel, "warp shuffle whose mask names an exited or missing lane");
            b->failed = true;
            memset(out, 0, size);
            return;
        }
    if (!(mask >> src_lane & 1u)) {
        fail(cudaErrorLaunchFailure, "%s", b->kernel, "warp shuffle reads a lane outside its mask");
        b->failed = true;
    }
    memcpy(out, b->slots[w0 + (unsigned)src_lane], size);
    wait(WAIT_WARP);   /* every lane has read before any lane writes again */
}

/* ---- runtime API ---------------------------------------------------------- */
cudaError_t cudaGetDeviceCount(int *n) {
    const char *e = getenv("TEMPERA_CUDA_EMU_DEVICES");
    *n = e ? atoi(e) : 1;
    return cudaSuccess;
}

/* one emulated device: any index below the count is accepted (they share the host) */
cudaError_t cudaSetDevice(int dev) {
    int n = 0;
    cudaGetDeviceCount(&n);
    return dev >= 0 && dev < n ? cudaSuccess : cudaErrorInvalidValue;
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp *p, int dev) {
    if (dev != 0) return cudaErrorInvalidValue;
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "tempera CUDA emulator (CPU)");
    p->totalGlobalMem = (size_t)1 << 32;
    p->multiProcessorCount = 1;
    p->warp_size = 32;
    p->maxThreadsPerBlock = 1024;
    p->major = 9;
    return cudaSuccess;
}

cudaError_t cudaRuntimeGetVersion(int *v) { *v = CUDART_VERSION; return cudaSuccess; }
cudaError_t cudaDeviceSynchronize(void) { return sticky; }
cudaError_t cudaPeekAtLastError(void) { return sticky; }
cudaError_t cudaGetLastError(void) {
    cudaError_t e = sticky;
    sticky = cudaSuccess;
    return e;
}

const char *cudaGetErrorString(cudaError_t e) {
    switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorIllegalAddress: return "an illegal memory access was encountered";
    case cudaErrorLaunchFailure: return "unspecified launch failure";
    }
    return "unknown error";
}

cudaError_t cudaMalloc(void **p, size_t n) {
    if (!p) return cudaErrorInvalidValue;
    char *m = (char *)aligned_alloc(256, (n + GUARD + 255) / 256 * 256);
    if (!m) return cudaErrorMemoryAllocation;
    memset(m, 0xff, n);
    memset(m + n, GUARD_BYTE, GUARD);
#ifdef TP_EMU_ASAN
    __asan_poison_memory_region(m + n, GUARD);
#endif
    allocations[m] = n;
    *p = m;
    return cudaSuccess;
}

cudaError_t cudaFree(void *p) {
    if (!p) return cudaSuccess;
    auto it = allocations.find((char *)p);
    if (it == allocations.end()) return cudaErrorInvalidValue;
    check_guards("cudaFree");
#ifdef TP_EMU_ASAN
    __asan_unpoison_memory_region((char *)p + it->second, GUARD);
#endif
    allocations.erase(it);
    free(p);
    return cudaSuccess;
}

/* a device range must lie inside one allocation */
static bool device_range(const void *p, size_t n) {
    auto it = allocations.upper_bound((char *)p);
    if (it == allocations.begin()) return false;
    --it;
    return (const char *)p >= it->first && (const char *)p + n <= it->first + it->second;
}

cudaError_t cudaMemcpy(void *dst, const void *src, size_t n, cudaMemcpyKind k) {
    if (n == 0) return cudaSuccess;
    bool dd = k == cudaMemcpyDeviceToDevice || k == cudaMemcpyDeviceToHost;
    bool dt = k == cudaMemcpyDeviceToDevice || k == cudaMemcpyHostToDevice;
    if ((dd && !device_range(src, n)) || (dt && !device_range(dst, n))) {
        fail(cudaErrorInvalidValue, "%s", "cudaMemcpy", "a device range outside every allocation");
        return cudaErrorInvalidValue;
    }
    memmove(dst, src, n);
    return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t n, cudaMemcpyKind k, cudaStream_t s) {
    (void)s;
    return cudaMemcpy(dst, src, n, k);
}

cudaError_t cudaMemset(void *p, int v, size_t n) {
    if (n == 0) return cudaSuccess;
    if (!device_range(p, n)) {
        fail(cudaErrorInvalidValue, "%s", "cudaMemset", "a device range outside every allocation");
        return cudaErrorInvalidValue;
    }
    memset(p, v, n);
    return cudaSuccess;
}

cudaError_t cudaMemsetAsync(void *p, int v, size_t n, cudaStream_t s) { (void)s; return cudaMemset(p, v, n); }
cudaError_t cudaStreamSynchronize(cudaStream_t s) { (void)s; return sticky; }

struct tp_emu_event { double t; };
cudaError_t cudaEventCreate(cudaEvent_t *e) { *e = new tp_emu_event{ 0 }; return cudaSuccess; }
cudaError_t cudaEventDestroy(cudaEvent_t e) { delete e; return cudaSuccess; }
cudaError_t cudaEventSynchronize(cudaEvent_t e) { (void)e; return sticky; }
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s) {
    (void)s;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    e->t = ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
    return cudaSuccess;
}
cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t a, cudaEvent_t b) { *ms = (float)(b->t - a->t); return cudaSuccess; }
