#!/usr/bin/env python3
"""Checked UDP datagrams through the tunnel, both ways (standard library only).

  datagram_check.py serve ADDRESS PORT                 echo every datagram back, until killed
  datagram_check.py send ADDRESS PORT GROUPS SIZE MODE send GROUPS groups of 10 datagrams of SIZE
                                                       octets and one of SIZE // 2 + 1 (odd sizes on
                                                       purpose), read the echoes and check each one

MODE is `plain` (one sendto per datagram) or `segmented` (each group in one sendmsg with UDP_SEGMENT,
so the sender's kernel hands the tunnel a UDP super-packet: USO on the TUN device). Every datagram
carries its sequence number and length and a pattern derived from them, so an echo that is cut,
merged, or altered is found. `send` prints "OK received R of N" and exits 0 when at least 90 % came
back and none was wrong; else prints why and exits 1. Every wait is bounded.
"""
import hashlib
import socket
import struct
import sys
import time

UDP_SEGMENT = 103  # linux/udp.h
PER_GROUP = 10
TIMEOUT = 3.0


def datagram(sequence, length):
    head = struct.pack("!IH", sequence, length)
    pattern = hashlib.sha256(head).digest()
    body = (pattern * (length // len(pattern) + 1))[: length - len(head)]
    return head + body


def serve(address, port):
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    server = socket.socket(family, socket.SOCK_DGRAM)
    server.bind((address, port))
    print("listening", flush=True)
    while True:
        data, peer = server.recvfrom(65535)
        server.sendto(data, peer)


def send(address, port, groups, size, mode):
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    client = socket.socket(family, socket.SOCK_DGRAM)
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    client.connect((address, port))
    expected = {}
    sequence = 0
    for _ in range(groups):
        lengths = [size] * PER_GROUP + [size // 2 + 1]
        packets = []
        for length in lengths:
            packets.append(datagram(sequence, length))
            expected[sequence] = length
            sequence += 1
        if mode == "segmented":
            client.sendmsg([b"".join(packets)], [(socket.SOL_UDP, UDP_SEGMENT, struct.pack("H", size))])
        else:
            for packet in packets:
                client.send(packet)
        time.sleep(0.002)  # paced: the check is about content, not about the socket buffers
    received, wrong = 0, []
    client.settimeout(TIMEOUT)
    deadline = time.monotonic() + TIMEOUT
    while received < len(expected) and time.monotonic() < deadline:
        try:
            data = client.recv(65535)
        except socket.timeout:
            break
        if len(data) < 6:
            wrong.append(f"short echo of {len(data)} octets")
            continue
        number, length = struct.unpack("!IH", data[:6])
        if expected.get(number) != length or data != datagram(number, length):
            wrong.append(f"datagram {number}: {len(data)} octets, not what was sent")
            continue
        expected[number] = None
        received += 1
    total = sequence
    if wrong:
        print(f"FAIL {len(wrong)} wrong echoes, e.g. {wrong[:3]}")
        return 1
    if received < total * 9 // 10:
        print(f"FAIL received {received} of {total}")
        return 1
    print(f"OK received {received} of {total}")
    return 0


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "serve":
        serve(sys.argv[2], int(sys.argv[3]))
    elif len(sys.argv) == 7 and sys.argv[1] == "send" and sys.argv[6] in ("plain", "segmented"):
        sys.exit(send(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]))
    else:
        print(__doc__)
        sys.exit(2)


if __name__ == "__main__":
    main()
