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
/// | `extra_flags` (TERN_IFF_VNET_HDR, IFF_MULTI_QUEUE later). Writes the kernel's name for it to
/// `actual_name` (IFNAMSIZ octets). Returns the descriptor, or -1 with errno.
int tern_tun_open(const char *name, int extra_flags, char *actual_name);

// Offload constants from linux/if_tun.h and linux/udp.h. Debian 12's kernel headers (Linux 6.1) lack
// the UDP segmentation flags for TUN (Linux 6.2), so every value is spelled out here; shim.c checks each
// one the system headers do define against them at compile time.
/// TUNSETIFF flag: every read and write on the descriptor starts with a struct virtio_net_hdr.
#define TERN_IFF_VNET_HDR 0x4000
/// TUNSETOFFLOAD flags: what the reader of a TUN device can take (the kernel may then hand it
/// unchecksummed packets and TCP/UDP super-packets).
#define TERN_TUN_F_CSUM 0x01
#define TERN_TUN_F_TSO4 0x02
#define TERN_TUN_F_TSO6 0x04
#define TERN_TUN_F_TSO_ECN 0x08
#define TERN_TUN_F_USO4 0x20
#define TERN_TUN_F_USO6 0x40
/// Socket option level and options of UDP segmentation offload (send) and UDP GRO (receive).
#define TERN_SOL_UDP 17
#define TERN_UDP_SEGMENT 103
#define TERN_UDP_GRO 104

/// TUNSETVNETHDRSZ: the length of the virtio header that precedes every packet (10: the plain
/// struct virtio_net_hdr). Returns 0, or -1 with errno.
int tern_tun_set_vnet_header_length(int fd, int length);
/// TUNSETOFFLOAD with `flags` (TERN_TUN_F_*). The kernel refuses a set it does not know whole (EINVAL),
/// so a caller probes by trying less. Returns 0, or -1 with errno.
int tern_tun_set_offload(int fd, unsigned int flags);

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

/// Octets of control buffer per datagram: room for a packet-info message plus a UDP_SEGMENT (send) or
/// UDP_GRO (receive) message, whichever family and direction needs most.
size_t tern_control_length(void);
/// Reads the control messages of a received message: its packet info into `local` (family 0 when there
/// is none) and the UDP_GRO segment size into `segment_size` (0 when the kernel delivered one datagram,
/// not a coalesced run).
void tern_read_control(const struct msghdr *message, struct tern_local_address *local, int *segment_size);
/// Fills `control` (at least tern_control_length() octets) so that sending `message` uses `local` as
/// source; a `local` of family 0 clears the control data.
void tern_write_pktinfo(struct msghdr *message, void *control, const struct tern_local_address *local);
/// As tern_write_pktinfo, then appends a UDP_SEGMENT message: the kernel cuts the message's payload
/// into datagrams of `segment_size` octets (the last may be shorter). The packet-info message stays
/// first, so a message that points at the same buffer with only the packet info's length still reads
/// its source correctly.
void tern_write_segmented(
    struct msghdr *message, void *control, const struct tern_local_address *local, uint16_t segment_size);

/// posix_spawn(3) of `path` with `argv` and `envp` (NULL-terminated): standard input from `input_fd`,
/// standard output and standard error both to `output_fd`, every other descriptor closed, no signal
/// blocked and every signal at its default action (a daemon blocks SIGTERM, SIGINT and SIGHUP for its
/// signalfd, and a child would inherit that). Writes the child's PID to `pid`. Returns 0, or the error
/// number (posix_spawn does not set errno).
int tern_spawn(const char *path, char *const argv[], char *const envp[], int input_fd, int output_fd, int *pid);
/// write(2) to a pipe without SIGPIPE: SIGPIPE is blocked in the calling thread for the call, and one it
/// raised is taken back (sigtimedwait), so a reader that went away is EPIPE, never the end of the daemon.
/// Returns what write returned, errno as write set it.
long tern_write_nosigpipe(int fd, const void *bytes, size_t count);
/// pidfd_open(2): a descriptor that polls readable when process `pid` exits. -1 with errno.
int tern_pidfd_open(int pid);
/// waitpid(2) for `pid`, blocking unless `no_hang`. Returns the PID, 0 (no_hang, still running) or -1
/// with errno; `exit_status` gets the exit status (≥ 0) or minus the terminating signal.
int tern_wait_child(int pid, int no_hang, int *exit_status);

// epoll(7) (sys/epoll.h is not in Glibc's Swift module); shim.c checks each against the system's.
#define TERN_EPOLLIN 0x001
#define TERN_EPOLLOUT 0x004
#define TERN_EPOLLERR 0x008
#define TERN_EPOLLHUP 0x010
#define TERN_EPOLL_CTL_ADD 1
#define TERN_EPOLL_CTL_DEL 2
#define TERN_EPOLL_CTL_MOD 3
/// epoll_create1(EPOLL_CLOEXEC): -1 with errno.
int tern_epoll_create(void);
/// epoll_ctl(2) with `events` (EPOLLIN = 0x1, EPOLLOUT = 0x4, ...) and `token` as the event's u64 data;
/// `op` is 1 (add), 2 (delete) or 3 (modify). struct epoll_event is packed on x86-64, which Swift's
/// importer cannot lay out, so the shim builds it. Returns 0, or -1 with errno.
int tern_epoll_ctl(int epfd, int op, int fd, uint32_t events, uint64_t token);
/// epoll_wait(2) for at most `count` events, written as parallel arrays of tokens and event masks.
/// Returns how many, or -1 with errno.
int tern_epoll_wait(int epfd, uint64_t *tokens, uint32_t *events, int count, int timeout_ms);
/// Raises RLIMIT_NOFILE's soft limit to its hard limit; writes both (after the change). 0, or -1 with errno.
int tern_raise_nofile_limit(uint64_t *soft, uint64_t *hard);

#endif
