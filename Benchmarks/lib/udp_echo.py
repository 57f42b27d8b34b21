#!/usr/bin/env python3
"""Round trip of one UDP datagram between two processes, for the comparison benchmark.

This is the floor of any user-space tunnel's round trip on the machine: one process is woken on each
side, as in a tunnel, but nothing is read from or written to a TUN device and nothing is encrypted.
Measured at the same cadence as the benchmark's ping (count, interval), so the processes sleep between
probes as a tunnel's threads do.

  udp_echo.py serve ADDRESS PORT SECONDS     echo every datagram back until "quit" or SECONDS pass
  udp_echo.py probe ADDRESS PORT COUNT INTERVAL
      prints "avg_ms median_ms lost" (one line) and sends "quit" to the server
"""
import socket
import statistics
import sys
import time

PROBE_TIMEOUT_S = 1.0
PAYLOAD = b"tern-udp-echo-" + b"x" * 50  # 64 octets, like ping's default packet


def serve(address: str, port: int, seconds: float) -> int:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.bind((address, port))
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                data, peer = sock.recvfrom(2048)
            except socket.timeout:
                break
            if data == b"quit":
                break
            sock.sendto(data, peer)
    return 0


def probe(address: str, port: int, count: int, interval: float) -> int:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    rtts = []
    lost = 0
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.settimeout(PROBE_TIMEOUT_S)
        for _ in range(count):
            time.sleep(interval)
            start = time.perf_counter_ns()
            sock.sendto(PAYLOAD, (address, port))
            try:
                while sock.recvfrom(2048)[0] != PAYLOAD:
                    pass
            except socket.timeout:
                lost += 1
                continue
            rtts.append((time.perf_counter_ns() - start) / 1e6)
        sock.sendto(b"quit", (address, port))
    if not rtts:
        print("- - %d" % lost)
        return 1
    print("%.4f %.4f %d" % (statistics.mean(rtts), statistics.median(rtts), lost))
    return 0


def main(argv: list) -> int:
    if len(argv) == 5 and argv[1] == "serve":
        return serve(argv[2], int(argv[3]), float(argv[4]))
    if len(argv) == 6 and argv[1] == "probe":
        return probe(argv[2], int(argv[3]), int(argv[4]), float(argv[5]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
