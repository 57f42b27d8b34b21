// CTernOS: the few Linux interfaces that Swift's Glibc module does not export or that need C macros
// (struct mmsghdr and recvmmsg/sendmmsg need _GNU_SOURCE; CMSG_* and TUNSETIFF are macros). Each
// function is a thin pass-through: errors come back as -1 with errno set, for TernOS's one wrapper.
#ifndef CTERNOS_H
#define CTERNOS_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

/// Mirrors struct mmsghdr (checked with _Static_assert in shim.c), which Swift cannot see.
struct tern_mmsghdr {
    struct msghdr msg_hdr;
    unsigned int msg_len;
};

/// recvmmsg(2) without a timeout; MSG_DONTWAIT in `flags` for a non-blocking batch.
int tern_recvmmsg(int fd, struct tern_mmsghdr *messages, unsigned int count, int flags);
/// sendmmsg(2).
int tern_sendmmsg(int fd, struct tern_mmsghdr *messages, unsigned int count, int flags);

/// Opens /dev/net/tun and attaches it to interface `name` (created if absent) with IFF_TUN | IFF_NO_PI
/// | `extra_flags` (IFF_VNET_HDR, IFF_MULTI_QUEUE later). Writes the kernel's name for it to
/// `actual_name` (IFNAMSIZ octets). Returns the descriptor, or -1 with errno.
int tern_tun_open(const char *name, int extra_flags, char *actual_name);

/// A non-blocking, close-on-exec UDP socket of `family` (AF_INET or AF_INET6): -1 with errno on failure.
int tern_udp_socket(int family);

/// A non-blocking, close-on-exec TCP socket of `family`: -1 with errno on failure. Glibc's Swift module
/// imports SOCK_STREAM and SOCK_NONBLOCK as members of an enum (`__socket_type`), not as flags to combine.
int tern_tcp_socket(int family);

/// accept4(2) with SOCK_NONBLOCK | SOCK_CLOEXEC: accept4 is a GNU extension (_GNU_SOURCE) that Swift's
/// Glibc module does not export, and a plain accept would leak the descriptor into children between the
/// accept and a later fcntl.
int tern_accept(int fd, struct sockaddr *address, socklen_t *length);

/// setns(2) (a GNU extension the Swift module does not export).
int tern_setns(int fd, int nstype);

/// eventfd(2), non-blocking and close-on-exec (Glibc's Swift module does not export it).
int tern_eventfd(void);

/// timerfd_create(CLOCK_BOOTTIME), non-blocking and close-on-exec (sys/timerfd.h is not in Glibc's
/// Swift module). CLOCK_BOOTTIME keeps counting through a suspend, so a deadline that passed while the
/// machine slept fires at resume.
int tern_boottime_timer(void);
/// Arms `fd` to fire once at `nanoseconds` of CLOCK_BOOTTIME (absolute); 0 disarms it.
int tern_timer_arm(int fd, uint64_t nanoseconds);

/// Blocks the `count` signals in `signals` in the calling thread (threads it creates afterwards inherit
/// the mask), then opens a non-blocking, close-on-exec signalfd(2) for them: -1 with errno on failure.
/// sys/signalfd.h is not in Glibc's Swift module, and sigset_t is built with macros-in-disguise.
int tern_signalfd_open(const int *signals, int count);
/// Reads one pending signal from a signalfd: its number, or -1 with errno (EAGAIN: none pending).
int tern_signalfd_read(int fd);

/// Names the calling thread (pthread_setname_np, a GNU extension); at most 15 characters are kept.
int tern_set_thread_name(const char *name);

/// The interface index of `name`, or 0 (errno set) when there is none.
unsigned int tern_if_index(const char *name);

/// The local end of a received datagram, from IP_PKTINFO / IPV6_PKTINFO: where the peer sent it.
struct tern_local_address {
    int family;             // AF_INET, AF_INET6, or 0 when the message carried no packet info
    unsigned int ifindex;
    uint8_t address[16];    // 4 octets for AF_INET
};

/// Octets of control buffer that one packet-info message needs (CMSG_SPACE of the larger one).
size_t tern_pktinfo_control_length(void);
/// Reads the packet info of a received message into `local`; returns 0, or -1 when there is none.
int tern_read_pktinfo(const struct msghdr *message, struct tern_local_address *local);
/// Fills `control` (at least tern_pktinfo_control_length() octets) so that sending `message` uses
/// `local` as source; a `local` of family 0 clears the control data.
void tern_write_pktinfo(struct msghdr *message, void *control, const struct tern_local_address *local);

#endif
