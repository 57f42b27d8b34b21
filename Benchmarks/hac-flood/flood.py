#!/usr/bin/env python3
"""Floods a Home Agent Controller with idle, slow-drip and garbage-TLS TCP connections (issue 13, item 3).

Each slot holds one connection of its kind, from one of the source addresses (round robin), and opens
it again when the server closes it (after --reconnect-ms), until --duration seconds have passed:

- idle: connects and sends nothing;
- slow: sends a TLS record header, then one octet of a ClientHello every --drip-ms;
- garbage: sends --garbage-octets random octets behind a TLS handshake record header, then waits.

Everything is bounded: the slots, the duration, the connects per second (--rate). Only for addresses
inside network namespaces a test or benchmark made. Prints one JSON object with the counts at the end
(attempted, established, closed_by_server, connect_failed, peak_open) and writes it to --stats if given.
"""
import argparse
import errno
import json
import os
import random
import resource
import selectors
import signal
import socket
import sys
import time


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", required=True, help="the HAC's address")
    parser.add_argument("--port", type=int, default=7872)
    parser.add_argument("--sources", required=True, help="comma-separated source addresses (assigned in this namespace)")
    parser.add_argument("--idle", type=int, default=0)
    parser.add_argument("--slow", type=int, default=0)
    parser.add_argument("--garbage", type=int, default=0)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds (at most 3600)")
    parser.add_argument("--rate", type=int, default=5000, help="new connections per second, at most")
    parser.add_argument("--reconnect-ms", type=int, default=100)
    parser.add_argument("--drip-ms", type=int, default=1000)
    parser.add_argument("--garbage-octets", type=int, default=512)
    parser.add_argument("--stats", help="also write the counts here (JSON)")
    parser.add_argument("--ready", help="touch this file once every slot has been opened once")
    args = parser.parse_args()
    duration = min(max(args.duration, 0.0), 3600.0)
    sources = [s for s in args.sources.split(",") if s]
    slots = ["idle"] * args.idle + ["slow"] * args.slow + ["garbage"] * args.garbage
    if not sources or not slots:
        sys.exit("flood.py: give --sources and at least one of --idle, --slow, --garbage")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if len(slots) + 64 > hard:
        sys.exit(f"flood.py: {len(slots)} slots need more descriptors than RLIMIT_NOFILE allows ({hard})")

    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    signal.signal(signal.SIGINT, lambda *_: stopping.append(True))

    family = socket.AF_INET6 if ":" in args.target else socket.AF_INET
    selector = selectors.DefaultSelector()
    counts = {"attempted": 0, "established": 0, "closed_by_server": 0, "connect_failed": 0, "peak_open": 0,
              "octets_sent": 0}
    slow_slots = [index for index, kind in enumerate(slots) if kind == "slow"]
    state = [None] * len(slots)  # per slot: dict(sock, connected, next_drip) or None
    retry_at = [0.0] * len(slots)
    opened_once = 0
    start = time.monotonic()
    end = start + duration
    next_slot = 0
    budget = 0.0
    last = start
    open_count = 0

    def close(index, by_server):
        nonlocal open_count
        entry = state[index]
        if entry is None:
            return
        try:
            selector.unregister(entry["sock"])
        except (KeyError, ValueError):
            pass
        entry["sock"].close()
        state[index] = None
        open_count -= 1
        if by_server:
            counts["closed_by_server"] += 1
        retry_at[index] = time.monotonic() + args.reconnect_ms / 1000.0

    def send(index, data):
        entry = state[index]
        try:
            sent = entry["sock"].send(data)
            counts["octets_sent"] += sent
        except BlockingIOError:
            pass
        except OSError:
            close(index, True)

    while True:
        now = time.monotonic()
        if now >= end or stopping:
            break
        budget = min(budget + (now - last) * args.rate, float(args.rate))
        last = now
        # Open what is due, within the rate.
        scanned = 0
        while budget >= 1 and scanned < len(slots):
            index = next_slot
            next_slot = (next_slot + 1) % len(slots)
            scanned += 1
            if state[index] is not None or retry_at[index] > now:
                continue
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setblocking(False)
            try:
                sock.bind((sources[index % len(sources)], 0))
                sock.connect((args.target, args.port))
            except BlockingIOError:
                pass
            except OSError as error:
                sock.close()
                counts["connect_failed"] += 1
                retry_at[index] = now + args.reconnect_ms / 1000.0
                if error.errno in (errno.EMFILE, errno.ENFILE):
                    break
                continue
            counts["attempted"] += 1
            budget -= 1
            state[index] = {"sock": sock, "connected": False, "next_drip": 0.0, "opened": False}
            open_count += 1
            counts["peak_open"] = max(counts["peak_open"], open_count)
            selector.register(sock, selectors.EVENT_READ | selectors.EVENT_WRITE, index)
            if retry_at[index] == 0.0:
                opened_once += 1
                if opened_once == len(slots) and args.ready:
                    open(args.ready, "w").close()
            retry_at[index] = -1.0
        for key, events in selector.select(timeout=0.02):
            index = key.data
            entry = state[index]
            if entry is None:
                continue
            sock = entry["sock"]
            if not entry["connected"] and events & selectors.EVENT_WRITE:
                failure = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if failure:
                    counts["connect_failed"] += 1
                    close(index, False)
                    continue
                entry["connected"] = True
                counts["established"] += 1
                selector.modify(sock, selectors.EVENT_READ, index)
                kind = slots[index]
                if kind == "garbage":
                    send(index, b"\x16\x03\x01\x02\x00" + os.urandom(max(args.garbage_octets - 5, 0)))
                elif kind == "slow":
                    send(index, b"\x16\x03\x01\x02\x00")
                    entry["next_drip"] = time.monotonic() + args.drip_ms / 1000.0
                continue
            if events & selectors.EVENT_READ:
                try:
                    data = sock.recv(4096)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                if not data:
                    close(index, True)
        # Drip.
        now = time.monotonic()
        for index in slow_slots:
            entry = state[index]
            if entry is not None and entry["connected"] and now >= entry["next_drip"]:
                send(index, b"\x01")
                if state[index] is not None:
                    entry["next_drip"] = now + args.drip_ms / 1000.0

    for index in range(len(slots)):
        close(index, False)
    counts["seconds"] = round(time.monotonic() - start, 1)
    text = json.dumps(counts, sort_keys=True)
    print(text)
    if args.stats:
        with open(args.stats, "w") as handle:
            handle.write(text + "\n")


if __name__ == "__main__":
    main()
