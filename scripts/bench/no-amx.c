/* Withholds AMX from a process, so that an AMX machine measures what a CPU with AVX-512 VNNI and BF16
 * but no AMX runs (scripts/bench-compare --no-amx loads it with LD_PRELOAD into every row).
 *
 * Linux hands out AMX's tile state only on request (arch_prctl(ARCH_REQ_XCOMP_PERM)); onnxruntime's MLAS
 * and triage both ask through libc's syscall() before they use a tile, and fall back to their AVX-512
 * VNNI kernels when the request fails. This syscall() refuses that one request and passes every other
 * call on. Build: cc -O2 -shared -fPIC -o no-amx.so scripts/bench/no-amx.c -ldl */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <sys/syscall.h>

#define ARCH_REQ_XCOMP_PERM 0x1023

long syscall(long number, ...) {
    static long (*real)(long, ...);
    va_list ap;
    long a[6];
    va_start(ap, number);
    /* x86-64 system calls take at most six arguments, all in registers: reading six is always safe. */
    for (int i = 0; i < 6; i++) a[i] = va_arg(ap, long);
    va_end(ap);
    if (number == SYS_arch_prctl && a[0] == ARCH_REQ_XCOMP_PERM) {
        errno = EPERM;
        return -1;
    }
    if (!real) real = (long (*)(long, ...))dlsym(RTLD_NEXT, "syscall");
    if (!real) {
        errno = ENOSYS;
        return -1;
    }
    return real(number, a[0], a[1], a[2], a[3], a[4], a[5]);
}
