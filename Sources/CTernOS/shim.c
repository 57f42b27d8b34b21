// See include/CTernOS.h. Every function only adapts a Linux interface for Swift.
#define _GNU_SOURCE
#include <sys/epoll.h>
#include <sys/resource.h>
#include "CTernOS.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <netinet/udp.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

_Static_assert(sizeof(struct tern_mmsghdr) == sizeof(struct mmsghdr), "tern_mmsghdr must mirror mmsghdr");
_Static_assert(offsetof(struct tern_mmsghdr, msg_len) == offsetof(struct mmsghdr, msg_len),
               "tern_mmsghdr.msg_len must sit where mmsghdr.msg_len does");

// The offload constants the header spells out must be the kernel's.
_Static_assert(TERN_IFF_VNET_HDR == IFF_VNET_HDR, "IFF_VNET_HDR");
_Static_assert(TERN_TUN_F_CSUM == TUN_F_CSUM && TERN_TUN_F_TSO4 == TUN_F_TSO4 && TERN_TUN_F_TSO6 == TUN_F_TSO6 &&
                   TERN_TUN_F_TSO_ECN == TUN_F_TSO_ECN,
               "TUN_F_* checksum and TSO flags");
#ifdef TUN_F_USO4
_Static_assert(TERN_TUN_F_USO4 == TUN_F_USO4 && TERN_TUN_F_USO6 == TUN_F_USO6, "TUN_F_USO* flags");
#endif
_Static_assert(TERN_SOL_UDP == SOL_UDP && TERN_UDP_SEGMENT == UDP_SEGMENT && TERN_UDP_GRO == UDP_GRO,
               "UDP offload socket options");

int tern_recvmmsg(int fd, struct tern_mmsghdr *messages, unsigned int count, int flags) {
    return recvmmsg(fd, (struct mmsghdr *)messages, count, flags, NULL);
}

int tern_sendmmsg(int fd, struct tern_mmsghdr *messages, unsigned int count, int flags) {
    return sendmmsg(fd, (struct mmsghdr *)messages, count, flags);
}

int tern_tun_open(const char *name, int extra_flags, char *actual_name) {
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return -1;
    struct ifreq request;
    memset(&request, 0, sizeof request);
    request.ifr_flags = (short)(IFF_TUN | IFF_NO_PI | extra_flags);
    strncpy(request.ifr_name, name, IFNAMSIZ - 1);
    if (ioctl(fd, TUNSETIFF, &request) < 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    memcpy(actual_name, request.ifr_name, IFNAMSIZ);
    actual_name[IFNAMSIZ - 1] = 0;
    return fd;
}

int tern_tun_set_vnet_header_length(int fd, int length) { return ioctl(fd, TUNSETVNETHDRSZ, &length); }

// TUNSETOFFLOAD takes the flags as the argument itself, not through a pointer.
int tern_tun_set_offload(int fd, unsigned int flags) { return ioctl(fd, TUNSETOFFLOAD, (unsigned long)flags); }

int tern_udp_socket(int family) { return socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0); }

int tern_tcp_socket(int family) { return socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0); }

int tern_accept(int fd, struct sockaddr *address, socklen_t *length) {
    return accept4(fd, address, length, SOCK_NONBLOCK | SOCK_CLOEXEC);
}

int tern_setns(int fd, int nstype) { return setns(fd, nstype); }

int tern_eventfd(void) { return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }

int tern_set_thread_name(const char *name) {
    char shortened[16];
    strncpy(shortened, name, sizeof shortened - 1);
    shortened[sizeof shortened - 1] = 0;
    return pthread_setname_np(pthread_self(), shortened);
}

unsigned int tern_if_index(const char *name) { return if_nametoindex(name); }

// Room for the larger packet-info message (IPv6's), aligned so that another message may follow it.
static size_t tern_pktinfo_space(void) {
    size_t v4 = CMSG_SPACE(sizeof(struct in_pktinfo));
    size_t v6 = CMSG_SPACE(sizeof(struct in6_pktinfo));
    return v4 > v6 ? v4 : v6;
}

size_t tern_control_length(void) {
    // Send: packet info + UDP_SEGMENT (a uint16_t). Receive: packet info + UDP_GRO (an int).
    size_t send = tern_pktinfo_space() + CMSG_SPACE(sizeof(uint16_t));
    size_t receive = tern_pktinfo_space() + CMSG_SPACE(sizeof(int));
    return send > receive ? send : receive;
}

void tern_read_control(const struct msghdr *message, struct tern_local_address *local, int *segment_size) {
    memset(local, 0, sizeof *local);
    *segment_size = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR((struct msghdr *)message); c != NULL;
         c = CMSG_NXTHDR((struct msghdr *)message, c)) {
        if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
            struct in_pktinfo info;
            memcpy(&info, CMSG_DATA(c), sizeof info);
            local->family = AF_INET;
            local->ifindex = (unsigned int)info.ipi_ifindex;
            memcpy(local->address, &info.ipi_addr, 4);
        } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
            struct in6_pktinfo info;
            memcpy(&info, CMSG_DATA(c), sizeof info);
            local->family = AF_INET6;
            local->ifindex = info.ipi6_ifindex;
            memcpy(local->address, &info.ipi6_addr, 16);
        } else if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO && c->cmsg_len >= CMSG_LEN(sizeof(int))) {
            // Only on a socket with UDP_GRO on, and only for a coalesced run: the length of each datagram
            // in it but the last, which may be shorter.
            memcpy(segment_size, CMSG_DATA(c), sizeof(int));
        }
    }
}

void tern_write_pktinfo(struct msghdr *message, void *control, const struct tern_local_address *local) {
    if (local->family != AF_INET && local->family != AF_INET6) {
        message->msg_control = NULL;
        message->msg_controllen = 0;
        return;
    }
    memset(control, 0, tern_pktinfo_space());
    message->msg_control = control;
    if (local->family == AF_INET) {
        message->msg_controllen = CMSG_SPACE(sizeof(struct in_pktinfo));
        struct cmsghdr *c = CMSG_FIRSTHDR(message);
        c->cmsg_level = IPPROTO_IP;
        c->cmsg_type = IP_PKTINFO;
        c->cmsg_len = CMSG_LEN(sizeof(struct in_pktinfo));
        struct in_pktinfo info;
        memset(&info, 0, sizeof info);
        // The source address only; ifindex 0 lets routing pick the interface for it.
        memcpy(&info.ipi_spec_dst, local->address, 4);
        memcpy(CMSG_DATA(c), &info, sizeof info);
    } else {
        message->msg_controllen = CMSG_SPACE(sizeof(struct in6_pktinfo));
        struct cmsghdr *c = CMSG_FIRSTHDR(message);
        c->cmsg_level = IPPROTO_IPV6;
        c->cmsg_type = IPV6_PKTINFO;
        c->cmsg_len = CMSG_LEN(sizeof(struct in6_pktinfo));
        struct in6_pktinfo info;
        memset(&info, 0, sizeof info);
        memcpy(&info.ipi6_addr, local->address, 16);
        // Link-local sources need their interface; for others 0 lets routing choose.
        if (local->address[0] == 0xfe && (local->address[1] & 0xc0) == 0x80) info.ipi6_ifindex = local->ifindex;
        memcpy(CMSG_DATA(c), &info, sizeof info);
    }
}

void tern_write_segmented(
    struct msghdr *message, void *control, const struct tern_local_address *local, uint16_t segment_size) {
    tern_write_pktinfo(message, control, local);
    // CMSG_SPACE keeps every message aligned, so the next one starts right after the packet info.
    size_t used = message->msg_controllen;
    struct cmsghdr *c = (struct cmsghdr *)((char *)control + used);
    memset(c, 0, CMSG_SPACE(sizeof(uint16_t)));
    c->cmsg_level = SOL_UDP;
    c->cmsg_type = UDP_SEGMENT;
    c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
    memcpy(CMSG_DATA(c), &segment_size, sizeof segment_size);
    message->msg_control = control;
    message->msg_controllen = used + CMSG_SPACE(sizeof(uint16_t));
}

int tern_boottime_timer(void) { return timerfd_create(CLOCK_BOOTTIME, TFD_NONBLOCK | TFD_CLOEXEC); }

int tern_timer_arm(int fd, uint64_t nanoseconds) {
    struct itimerspec spec = {0};
    spec.it_value.tv_sec = (time_t)(nanoseconds / 1000000000u);
    spec.it_value.tv_nsec = (long)(nanoseconds % 1000000000u);
    return timerfd_settime(fd, TFD_TIMER_ABSTIME, &spec, NULL);
}

int tern_signalfd_open(const int *signals, int count) {
    sigset_t set;
    sigemptyset(&set);
    for (int index = 0; index < count; index++) {
        if (sigaddset(&set, signals[index]) == -1) return -1;
    }
    int error = pthread_sigmask(SIG_BLOCK, &set, NULL);
    if (error != 0) {
        errno = error;
        return -1;
    }
    return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

int tern_signalfd_read(int fd) {
    struct signalfd_siginfo info;
    ssize_t got = read(fd, &info, sizeof info);
    if (got == -1) return -1;
    if (got != (ssize_t)sizeof info) {
        errno = EIO;
        return -1;
    }
    return (int)info.ssi_signo;
}

int tern_spawn(const char *path, char *const argv[], char *const envp[], int input_fd, int output_fd, int *pid) {
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attributes;
    int error = posix_spawn_file_actions_init(&actions);
    if (error != 0) return error;
    error = posix_spawnattr_init(&attributes);
    if (error != 0) {
        posix_spawn_file_actions_destroy(&actions);
        return error;
    }
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    if ((error = posix_spawn_file_actions_adddup2(&actions, input_fd, 0)) == 0 &&
        (error = posix_spawn_file_actions_adddup2(&actions, output_fd, 1)) == 0 &&
        (error = posix_spawn_file_actions_adddup2(&actions, output_fd, 2)) == 0 &&
        (error = posix_spawn_file_actions_addclosefrom_np(&actions, 3)) == 0 &&
        (error = posix_spawnattr_setsigmask(&attributes, &none)) == 0 &&
        (error = posix_spawnattr_setsigdefault(&attributes, &all)) == 0 &&
        (error = posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)) == 0) {
        pid_t child = 0;
        error = posix_spawn(&child, path, &actions, &attributes, argv, envp);
        if (error == 0) *pid = (int)child;
    }
    posix_spawnattr_destroy(&attributes);
    posix_spawn_file_actions_destroy(&actions);
    return error;
}

long tern_write_nosigpipe(int fd, const void *bytes, size_t count) {
    sigset_t pipe_only, previous, pending;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    sigemptyset(&pending);
    sigpending(&pending);
    int was_pending = sigismember(&pending, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_only, &previous);
    ssize_t result = write(fd, bytes, count);
    int saved = errno;
    if (result < 0 && saved == EPIPE && !was_pending) {
        struct timespec now = {0, 0};
        while (sigtimedwait(&pipe_only, NULL, &now) < 0 && errno == EINTR) {
        }
    }
    pthread_sigmask(SIG_SETMASK, &previous, NULL);
    errno = saved;
    return (long)result;
}

int tern_pidfd_open(int pid) { return (int)syscall(SYS_pidfd_open, (pid_t)pid, 0); }

int tern_wait_child(int pid, int no_hang, int *exit_status) {
    int status = 0;
    pid_t result = waitpid((pid_t)pid, &status, no_hang ? WNOHANG : 0);
    if (result > 0) *exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
    return (int)result;
}

_Static_assert(TERN_EPOLLIN == EPOLLIN && TERN_EPOLLOUT == EPOLLOUT, "epoll events");
_Static_assert(TERN_EPOLLERR == EPOLLERR && TERN_EPOLLHUP == EPOLLHUP, "epoll events");
_Static_assert(TERN_EPOLL_CTL_ADD == EPOLL_CTL_ADD && TERN_EPOLL_CTL_DEL == EPOLL_CTL_DEL, "epoll_ctl");
_Static_assert(TERN_EPOLL_CTL_MOD == EPOLL_CTL_MOD, "epoll_ctl");

int tern_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }

int tern_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t token) {
    struct epoll_event event = {.events = events, .data = {.u64 = token}};
    return epoll_ctl(epfd, op, fd, &event);
}

int tern_epoll_wait(int epfd, uint64_t *tokens, uint32_t *events, int count, int timeout_ms) {
    enum { batch = 256 };
    struct epoll_event ready[batch];
    int n = epoll_wait(epfd, ready, count < batch ? count : batch, timeout_ms);
    for (int i = 0; i < n; i++) {
        tokens[i] = ready[i].data.u64;
        events[i] = ready[i].events;
    }
    return n;
}

int tern_raise_nofile_limit(uint64_t *soft, uint64_t *hard) {
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return -1;
    if (limit.rlim_cur < limit.rlim_max) {
        limit.rlim_cur = limit.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &limit) != 0) return -1;
    }
    *soft = (uint64_t)limit.rlim_cur;
    *hard = (uint64_t)limit.rlim_max;
    return 0;
}
