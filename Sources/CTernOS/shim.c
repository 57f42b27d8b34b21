// See include/CTernOS.h. Every function only adapts a Linux interface for Swift.
#define _GNU_SOURCE
#include "CTernOS.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

_Static_assert(sizeof(struct tern_mmsghdr) == sizeof(struct mmsghdr), "tern_mmsghdr must mirror mmsghdr");
_Static_assert(offsetof(struct tern_mmsghdr, msg_len) == offsetof(struct mmsghdr, msg_len),
               "tern_mmsghdr.msg_len must sit where mmsghdr.msg_len does");

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

size_t tern_pktinfo_control_length(void) {
    size_t v4 = CMSG_SPACE(sizeof(struct in_pktinfo));
    size_t v6 = CMSG_SPACE(sizeof(struct in6_pktinfo));
    return v4 > v6 ? v4 : v6;
}

int tern_read_pktinfo(const struct msghdr *message, struct tern_local_address *local) {
    memset(local, 0, sizeof *local);
    for (struct cmsghdr *c = CMSG_FIRSTHDR((struct msghdr *)message); c != NULL;
         c = CMSG_NXTHDR((struct msghdr *)message, c)) {
        if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
            struct in_pktinfo info;
            memcpy(&info, CMSG_DATA(c), sizeof info);
            local->family = AF_INET;
            local->ifindex = (unsigned int)info.ipi_ifindex;
            memcpy(local->address, &info.ipi_addr, 4);
            return 0;
        }
        if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
            struct in6_pktinfo info;
            memcpy(&info, CMSG_DATA(c), sizeof info);
            local->family = AF_INET6;
            local->ifindex = info.ipi6_ifindex;
            memcpy(local->address, &info.ipi6_addr, 16);
            return 0;
        }
    }
    return -1;
}

void tern_write_pktinfo(struct msghdr *message, void *control, const struct tern_local_address *local) {
    if (local->family != AF_INET && local->family != AF_INET6) {
        message->msg_control = NULL;
        message->msg_controllen = 0;
        return;
    }
    memset(control, 0, tern_pktinfo_control_length());
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
