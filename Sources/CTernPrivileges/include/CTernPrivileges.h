// CTernPrivileges: run one system call on every thread of the process.
//
// Linux keeps credentials (capability sets, the bounding set, no_new_privs, keepcaps) per thread, and
// capset(2) and prctl(2) change only the calling thread's. By the time a daemon drops its privileges it
// already runs data-plane threads, the Swift concurrency pool and libdispatch's workers, so a change made
// on one thread alone would leave the others holding every capability. libcap's answer is libpsx, which
// needs every pthread_create linked with --wrap (the Swift runtime and libdispatch, shared libraries
// linked already, are not), and libcap 2.66 uses a function given to cap_set_syscall only when libpsx is
// linked (tried: it ignores it otherwise). So libcap names and reads capabilities, and the changes are
// made here.
#ifndef CTERNPRIVILEGES_H
#define CTERNPRIVILEGES_H

/// Runs syscall(`number`, a1, a2, a3) on every thread of the process: the others first, by a directed
/// SIGSYS (the one signal libdispatch leaves unblocked on its worker threads) whose handler makes the call
/// on that thread, then the calling thread. Threads created meanwhile are found by listing
/// /proc/self/task again until a pass finds none new. Returns what the call returned on the calling
/// thread, or -1 with errno: the first error of any thread; ETIMEDOUT when a thread did not answer
/// within 5 s (it blocks SIGSYS); E2BIG past 4096 threads. Calls are serialised. The same signature as
/// syscall(2), as cap_set_syscall expects.
long int tern_all_threads_syscall3(long int number, long int a1, long int a2, long int a3);
/// The six-argument form (prctl with five arguments), same contract.
long int tern_all_threads_syscall6(
    long int number, long int a1, long int a2, long int a3, long int a4, long int a5, long int a6);


#include <stdint.h>
#include <sys/types.h>

/// prctl(option, a2, a3, a4, a5) on every thread (PR_SET_NO_NEW_PRIVS, PR_CAPBSET_DROP, PR_CAP_AMBIENT,
/// PR_SET_KEEPCAPS). 0, or -1 with errno.
int tern_prctl_all_threads(int option, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5);
/// capset(2), version 3, on every thread: the sets as 64-bit masks (bit N is capability N). 0 or -1.
int tern_capset_all_threads(uint64_t effective, uint64_t permitted, uint64_t inheritable);
/// setgroups(2), setresgid(2), setresuid(2) on every thread, the raw system calls (glibc's wrappers
/// do the same broadcast with their own signal; one mechanism for every change keeps the order plain).
int tern_setgroups_all_threads(size_t count, const gid_t *groups);
int tern_setresgid_all_threads(gid_t gid);
int tern_setresuid_all_threads(uid_t uid);

#endif
