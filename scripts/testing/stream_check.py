#!/usr/bin/env python3
"""A checksummed TCP stream through the tunnel, both ways (standard library only).

  stream_check.py serve ADDRESS PORT           echo every byte back to each client, until killed
  stream_check.py send ADDRESS PORT BYTES [RATE]
                                               send BYTES pseudo-random octets (at most RATE octets a
                                               second if given, so a transfer can span a handover), read
                                               the echo, compare

`send` prints "OK <bytes> <sha256>" and exits 0 when the echo is identical, else prints why and exits 1.
Every socket operation has a timeout, so a broken tunnel fails the check instead of hanging it.
"""
import hashlib
import os
import socket
import sys
import threading
import time

TIMEOUT = 30.0
CHUNK = 16384


def serve(address, port):
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((address, port))
    listener.listen(8)
    print("listening", flush=True)
    while True:
        connection, _ = listener.accept()
        threading.Thread(target=echo, args=(connection,), daemon=True).start()


def echo(connection):
    connection.settimeout(TIMEOUT)
    try:
        while True:
            data = connection.recv(65536)
            if not data:
                break
            connection.sendall(data)
    except OSError:
        pass
    finally:
        connection.close()


def send(address, port, total, rate=None):
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    payload = os.urandom(total)
    received = bytearray()
    errors = []
    connection = socket.socket(family, socket.SOCK_STREAM)
    connection.settimeout(TIMEOUT)
    connection.connect((address, port))

    def reader():
        try:
            while len(received) < total:
                data = connection.recv(65536)
                if not data:
                    break
                received.extend(data)
        except OSError as error:
            errors.append(f"receive: {error}")

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        if rate:
            start = time.monotonic()
            for offset in range(0, total, CHUNK):
                connection.sendall(payload[offset:offset + CHUNK])
                ahead = (offset + CHUNK) / rate - (time.monotonic() - start)
                if ahead > 0:
                    time.sleep(ahead)
        else:
            connection.sendall(payload)
        connection.shutdown(socket.SHUT_WR)
    except OSError as error:
        errors.append(f"send: {error}")
    thread.join(TIMEOUT + 5)
    connection.close()
    sent_hash = hashlib.sha256(payload).hexdigest()
    got_hash = hashlib.sha256(bytes(received)).hexdigest()
    if errors or len(received) != total or sent_hash != got_hash:
        print(f"MISMATCH sent {total} received {len(received)} errors {errors}")
        return 1
    print(f"OK {total} {sent_hash}")
    return 0


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "serve":
        serve(sys.argv[2], int(sys.argv[3]))
    elif len(sys.argv) in (5, 6) and sys.argv[1] == "send":
        rate = int(sys.argv[5]) if len(sys.argv) == 6 else None
        sys.exit(send(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), rate))
    else:
        print(__doc__)
        sys.exit(2)


if __name__ == "__main__":
    main()
