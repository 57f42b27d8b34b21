#!/usr/bin/env python3
"""What an attacker on the underlay does to a Home Agent's UDP port (standard library only).

  udp_attack.py garbage HOST PORT COUNT SPI     COUNT random datagrams; half start with PType 1 and SPI
  udp_attack.py forge HOST PORT COUNT SPI [PTYPE]
                                                COUNT well-framed datagrams of PTYPE (default 1; 8 for
                                                 a forged Binding Update) under SPI with a random body
                                                 and ICV (no key): must fail authentication
  udp_attack.py sniff IFACE PORT COUNT FILE [PTYPE]
                                                capture COUNT UDP payloads sent to PORT on IFACE (AF_PACKET),
                                                 only those of PTYPE if given, and write them, hex, one
                                                 per line, to FILE
  udp_attack.py replay HOST PORT FILE           send every captured payload again

Every loop is bounded by COUNT and every wait by a timeout.
"""
import os
import random
import socket
import struct
import sys
import time

SNIFF_TIMEOUT = 20.0


def udp_socket(host):
    return socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)


def garbage(host, port, count, spi):
    sock = udp_socket(host)
    rng = random.Random(0x7E2)
    for index in range(count):
        body = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 200)))
        if index % 2 == 0 and len(body) >= 8:
            body = struct.pack(">I", (1 << 28) | spi) + body[4:]
        try:
            sock.sendto(body, (host, port))
        except OSError:
            pass
    print(f"sent {count}")


def forge(host, port, count, spi, ptype=1):
    sock = udp_socket(host)
    for sequence in range(1, count + 1):
        body = struct.pack(">II", (ptype << 28) | spi, 1_000_000 + sequence) + os.urandom(84 + 16)
        sock.sendto(body, (host, port))
    print(f"forged {count}")


def sniff(interface, port, count, path, ptype=None):
    raw = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(0x0003))
    raw.bind((interface, 0))
    raw.settimeout(1.0)
    print("sniffing", flush=True)  # bound: what crosses the interface from now on is seen
    captured = []
    deadline = time.monotonic() + SNIFF_TIMEOUT
    while len(captured) < count and time.monotonic() < deadline:
        try:
            frame = raw.recv(65535)
        except socket.timeout:
            continue
        if len(frame) < 14:
            continue
        ethertype = struct.unpack(">H", frame[12:14])[0]
        packet = frame[14:]
        if ethertype == 0x0800 and len(packet) >= 20 and packet[9] == 17:
            udp = packet[(packet[0] & 0x0F) * 4:]
        elif ethertype == 0x86DD and len(packet) >= 48 and packet[6] == 17:
            udp = packet[40:]
        else:
            continue
        if len(udp) >= 8 and struct.unpack(">H", udp[2:4])[0] == port:
            payload = udp[8:]
            if ptype is None or (len(payload) >= 1 and payload[0] >> 4 == ptype):
                captured.append(payload)
    with open(path, "w") as out:
        for payload in captured:
            out.write(payload.hex() + "\n")
    print(f"captured {len(captured)}")
    return 0 if len(captured) == count else 1


def replay(host, port, path):
    sock = udp_socket(host)
    with open(path) as source:
        payloads = [bytes.fromhex(line.strip()) for line in source if line.strip()]
    for payload in payloads:
        sock.sendto(payload, (host, port))
    print(f"replayed {len(payloads)}")


def main():
    args = sys.argv[1:]
    if len(args) == 5 and args[0] == "garbage":
        garbage(args[1], int(args[2]), int(args[3]), int(args[4]))
    elif len(args) in (5, 6) and args[0] == "forge":
        forge(args[1], int(args[2]), int(args[3]), int(args[4]), int(args[5]) if len(args) == 6 else 1)
    elif len(args) in (5, 6) and args[0] == "sniff":
        sys.exit(sniff(args[1], int(args[2]), int(args[3]), args[4], int(args[5]) if len(args) == 6 else None))
    elif len(args) == 4 and args[0] == "replay":
        replay(args[1], int(args[2]), args[3])
    else:
        print(__doc__)
        sys.exit(2)


if __name__ == "__main__":
    main()
