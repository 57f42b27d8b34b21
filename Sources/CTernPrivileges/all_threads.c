// See CTernPrivileges.h for why this exists. The design follows libcap's libpsx: a directed signal per
// thread, the call made in the handler, the initiator waiting for every answer. What differs is how the
// threads are found: by listing /proc/self/task, repeated until it stops growing, instead of by wrapping
// pthread_create.
#define _GNU_SOURCE
#include "CTernPrivileges.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <linux/capability.h>
#include <sys/prctl.h>

/// More threads than a Tern daemon ever runs (a few data-plane threads, the HAC's, the Swift pool).
#define TERN_MAX_THREADS 4096
/// How long one thread may take to answer before the call fails with ETIMEDOUT.
#define TERN_ANSWER_TIMEOUT_NS (5LL * 1000 * 1000 * 1000)
/// Passes over /proc/self/task before giving up on a process that keeps creating threads.
#define TERN_MAX_PASSES 64

enum slot_state { PENDING = 0, DONE = 1, GONE = 2 };

struct slot {
    _Atomic int tid;
    _Atomic int state;
    _Atomic int error;
};

static pthread_mutex_t serialised = PTHREAD_MUTEX_INITIALIZER;
static struct slot slots[TERN_MAX_THREADS];
static _Atomic int slot_count;
static long int request[7];  // the call's number and arguments, written before any signal is sent

// Async-signal-safe: syscall, atomics, a linear search. Ignores a SIGSYS it did not send.
static void on_request(int signal_number, siginfo_t *info, void *context) {
    (void)signal_number;
    (void)context;
    if (info->si_code != SI_TKILL || info->si_pid != getpid()) return;
    int saved = errno;
    int self = (int)syscall(SYS_gettid);
    int count = atomic_load_explicit(&slot_count, memory_order_acquire);
    for (int index = 0; index < count; index++) {
        if (atomic_load(&slots[index].tid) != self) continue;
        long int result =
            syscall(request[0], request[1], request[2], request[3], request[4], request[5], request[6]);
        atomic_store(&slots[index].error, result == -1 ? errno : 0);
        atomic_store_explicit(&slots[index].state, DONE, memory_order_release);
        break;
    }
    errno = saved;
}

static int known(int tid, int count) {
    for (int index = 0; index < count; index++) {
        if (atomic_load(&slots[index].tid) == tid) return 1;
    }
    return 0;
}

// Signals every thread not yet asked; returns how many were asked, or -1 with errno.
static int ask_new_threads(int self) {
    DIR *tasks = opendir("/proc/self/task");
    if (tasks == NULL) return -1;
    int asked = 0;
    struct dirent *entry;
    while ((entry = readdir(tasks)) != NULL) {
        int tid = atoi(entry->d_name);
        int count = atomic_load(&slot_count);
        if (tid <= 0 || tid == self || known(tid, count)) continue;
        if (count == TERN_MAX_THREADS) {
            closedir(tasks);
            errno = E2BIG;
            return -1;
        }
        atomic_store(&slots[count].tid, tid);
        atomic_store(&slots[count].state, PENDING);
        atomic_store(&slots[count].error, 0);
        atomic_store_explicit(&slot_count, count + 1, memory_order_release);
        if (syscall(SYS_tgkill, getpid(), tid, SIGSYS) == -1) {
            if (errno != ESRCH) {
                int error = errno;
                closedir(tasks);
                errno = error;
                return -1;
            }
            atomic_store(&slots[count].state, GONE);  // exited since the listing
        }
        asked++;
    }
    closedir(tasks);
    return asked;
}

// Waits until every asked thread answered or exited; 0, or -1 with errno ETIMEDOUT.
static int wait_for_answers(void) {
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        int pending = 0;
        int count = atomic_load(&slot_count);
        for (int index = 0; index < count; index++) {
            if (atomic_load_explicit(&slots[index].state, memory_order_acquire) != PENDING) continue;
            int tid = atomic_load(&slots[index].tid);
            if (syscall(SYS_tgkill, getpid(), tid, 0) == -1 && errno == ESRCH) {
                atomic_store(&slots[index].state, GONE);
            } else {
                pending++;
            }
        }
        if (pending == 0) return 0;
        clock_gettime(CLOCK_MONOTONIC, &now);
        long long elapsed = (now.tv_sec - start.tv_sec) * 1000000000LL + (now.tv_nsec - start.tv_nsec);
        if (elapsed > TERN_ANSWER_TIMEOUT_NS) {
            errno = ETIMEDOUT;
            return -1;
        }
        struct timespec pause = {0, 200 * 1000};
        nanosleep(&pause, NULL);
    }
}

long int tern_all_threads_syscall6(
    long int number, long int a1, long int a2, long int a3, long int a4, long int a5, long int a6) {
    pthread_mutex_lock(&serialised);
    request[0] = number;
    request[1] = a1;
    request[2] = a2;
    request[3] = a3;
    request[4] = a4;
    request[5] = a5;
    request[6] = a6;
    atomic_store(&slot_count, 0);
    atomic_thread_fence(memory_order_seq_cst);

    struct sigaction action = {0}, previous;
    action.sa_sigaction = on_request;
    action.sa_flags = SA_SIGINFO | SA_RESTART;
    sigfillset(&action.sa_mask);
    long int result = -1;
    int error = 0;
    if (sigaction(SIGSYS, &action, &previous) == -1) {
        error = errno;
        goto unlock;
    }
    int self = (int)syscall(SYS_gettid);
    int pass = 0;
    for (; pass < TERN_MAX_PASSES; pass++) {
        // A thread cloned by a not-yet-changed thread after the last listing shows up in the next one.
        int asked = ask_new_threads(self);
        if (asked < 0 || wait_for_answers() < 0) {
            error = errno;
            break;
        }
        if (asked == 0) break;
    }
    if (error == 0 && pass == TERN_MAX_PASSES) error = EAGAIN;
    if (error == 0) {
        int count = atomic_load(&slot_count);
        for (int index = 0; index < count && error == 0; index++) {
            if (atomic_load(&slots[index].state) == DONE) error = atomic_load(&slots[index].error);
        }
    }
    if (error == 0) {
        result = syscall(number, a1, a2, a3, a4, a5, a6);
        if (result == -1) error = errno;
    }
    sigaction(SIGSYS, &previous, NULL);
unlock:
    atomic_store(&slot_count, 0);
    pthread_mutex_unlock(&serialised);
    if (error != 0) {
        errno = error;
        return -1;
    }
    return result;
}

long int tern_all_threads_syscall3(long int number, long int a1, long int a2, long int a3) {
    return tern_all_threads_syscall6(number, a1, a2, a3, 0, 0, 0);
}

int tern_prctl_all_threads(int option, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5) {
    return (int)tern_all_threads_syscall6(SYS_prctl, option, (long)a2, (long)a3, (long)a4, (long)a5, 0);
}

int tern_capset_all_threads(uint64_t effective, uint64_t permitted, uint64_t inheritable) {
    // Static: every thread's handler reads them while this call waits.
    static struct __user_cap_header_struct header;
    static struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
    header.version = _LINUX_CAPABILITY_VERSION_3;
    header.pid = 0;
    for (int word = 0; word < _LINUX_CAPABILITY_U32S_3; word++) {
        data[word].effective = (uint32_t)(effective >> (32 * word));
        data[word].permitted = (uint32_t)(permitted >> (32 * word));
        data[word].inheritable = (uint32_t)(inheritable >> (32 * word));
    }
    return (int)tern_all_threads_syscall3(SYS_capset, (long)&header, (long)data, 0);
}

int tern_setgroups_all_threads(size_t count, const gid_t *groups) {
    return (int)tern_all_threads_syscall3(SYS_setgroups, (long)count, (long)groups, 0);
}

int tern_setresgid_all_threads(gid_t gid) {
    return (int)tern_all_threads_syscall3(SYS_setresgid, gid, gid, gid);
}

int tern_setresuid_all_threads(uid_t uid) {
    return (int)tern_all_threads_syscall3(SYS_setresuid, uid, uid, uid);
}
