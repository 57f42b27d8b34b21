#!/usr/bin/env python3
"""Writes the fuzz harnesses' seed corpora (Tests/Fuzz/Corpus/<harness>/) from real messages: the shapes
Tern sends and receives, in each harness's input format (docs/fuzzing.md). Deterministic: running it
again rewrites the same files. Usage: scripts/fuzz-seeds.py [corpus-dir]"""
import hashlib
import os
import struct
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "Tests", "Fuzz", "Corpus")


def write(harness, name, data):
    directory = os.path.join(OUT, harness)
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, name), "wb") as f:
        f.write(bytes(data))


def checksum(data):
    if len(data) % 2:
        data = data + b"\0"
    total = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ipv4(protocol, payload, src=bytes([10, 77, 0, 2]), dst=bytes([192, 0, 2, 1]), ident=1):
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, 0x4000, 64, protocol, 0, src, dst)
    header = header[:10] + struct.pack("!H", checksum(header)) + header[12:]
    return header + payload


def tcp(src_port, dst_port, seq, flags, payload, src=bytes([10, 77, 0, 2]), dst=bytes([192, 0, 2, 1])):
    header = struct.pack("!HHIIBBHHH", src_port, dst_port, seq, 1, 5 << 4, flags, 65535, 0, 0)
    pseudo = src + dst + struct.pack("!BBH", 0, 6, len(header) + len(payload))
    value = checksum(pseudo + header + payload)
    return header[:16] + struct.pack("!H", value) + header[18:] + payload


def udp(src_port, dst_port, payload, src=bytes([10, 77, 0, 2]), dst=bytes([192, 0, 2, 1])):
    header = struct.pack("!HHHH", src_port, dst_port, 8 + len(payload), 0)
    pseudo = src + dst + struct.pack("!BBH", 0, 17, 8 + len(payload))
    return header[:6] + struct.pack("!H", checksum(pseudo + header + payload) or 0xFFFF) + payload


def ipv6(next_header, payload):
    src = bytes.fromhex("fd770000000000000000000000000002")
    dst = bytes.fromhex("20010db8000000000000000000000001")
    return struct.pack("!IHBB", 0x60000000, len(payload), next_header, 64) + src + dst + payload


# Mobility Header (RFC 6275 §6.1): Payload Proto 59, Header Len, MH Type, Reserved, Checksum, data, options.
def mobility_header(mh_type, data, options=b""):
    body = bytes([59, 0, mh_type, 0, 0, 0]) + data + options
    pad = (-len(body)) % 8
    if pad == 1:
        body += b"\0"
    elif pad:
        body += bytes([1, pad - 2]) + bytes(pad - 2)
    return bytes([59, len(body) // 8 - 1]) + body[2:]


def binding_update(seq, lifetime, flags=0xC000, options=b""):
    return mobility_header(5, struct.pack("!HHH", seq, flags, lifetime), options)


IPV4_COA = bytes([32, 6, 0, 0, 192, 0, 2, 10])          # IPv4 Care-of Address (RFC 5555 §3.1.5)
IPV4_HOA = bytes([29, 6, 24, 0, 10, 77, 0, 2])           # IPv4 Home Address, prefix 24
ALT_COA = bytes([1, 4, 0, 0, 0, 0]) + bytes([3, 16]) + bytes.fromhex("20010db8000000000000000000000010")
BA = mobility_header(6, struct.pack("!BBHH", 0, 0, 7, 150), bytes([31, 6, 0, 0, 0, 0, 0, 25]))
BA_HOA = mobility_header(6, struct.pack("!BBHH", 0, 0, 8, 150), bytes([30, 6, 0, 24, 10, 77, 0, 2]))
BE = mobility_header(7, struct.pack("!BB", 1, 0) + bytes.fromhex("fd770000000000000000000000000002"))


def data_channel():
    # Mode 1 (sealed by the peer): selector | 0x10, PType choice (0: plaintext, 1: user data, 2: MH),
    # Next Header, the bit to flip, the payload.
    for suite in range(8):
        for scope in range(2):
            selector = 0x10 | scope << 3 | suite
            write("DataChannelOpen", f"sealed-ipv4-{suite}-{scope}", bytes([selector, 1, 4, 0, 77]) + ipv4(17, udp(5000, 53, b"query")))
            write("DataChannelOpen", f"sealed-ipv6-{suite}-{scope}", bytes([selector, 1, 41, 1, 3]) + ipv6(59, b""))
            write("DataChannelOpen", f"sealed-mh-{suite}-{scope}", bytes([selector, 2, 135, 0, 9]) + binding_update(8, 150, options=IPV4_COA))
            write("DataChannelOpen", f"keepalive-{suite}-{scope}", bytes([selector, 1, 59, 0, 1]))
    # Mode 0 (a stranger's datagram): headers under the harness's SPI, and PType 0 plaintext.
    spi = 0x01234567
    write("DataChannelOpen", "stranger-ptype1", bytes([0x00]) + struct.pack("!II", 1 << 28 | spi, 1) + bytes(64))
    write("DataChannelOpen", "stranger-ptype8", bytes([0x05]) + struct.pack("!II", 8 << 28 | spi, 2) + bytes(48))
    write("DataChannelOpen", "stranger-plaintext", bytes([0x08]) + struct.pack("!II", 0, 0) + ipv4(1, bytes(12)))


def mobility():
    def step(delay, selector, message, source=b""):
        return struct.pack("!HBH", delay, selector, len(message)) + message + source
    source4 = bytes([198, 51, 100, 7])
    write("MobilityHeader", "bu-register", step(1, 0x00, binding_update(1, 150, options=IPV4_COA), source4))
    write("MobilityHeader", "bu-register-hoa", step(1, 0x21, binding_update(1, 150, options=IPV4_HOA + IPV4_COA), bytes([192, 0, 2, 10])))
    write("MobilityHeader", "bu-ipv6", step(1, 0x12, binding_update(3, 900, options=ALT_COA), bytes.fromhex("20010db8000000000000000000000010")))
    write("MobilityHeader", "bu-refresh-deregister",
          step(1, 0, binding_update(1, 150), source4) + step(100, 0, binding_update(2, 150), source4)
          + step(100, 0, binding_update(2, 150), source4) + step(5, 0, binding_update(3, 0), source4))
    write("MobilityHeader", "bu-expire", step(1, 1, binding_update(9, 1), source4) + struct.pack("!HB", 0xFFFF, 0xC0))
    write("MobilityHeader", "bu-reinit", step(1, 0x08, binding_update(4, 150), source4))
    write("MobilityHeader", "ba", step(1, 0, BA) + step(1, 0, BA_HOA))
    write("MobilityHeader", "be", step(1, 0, BE))


def hac_container(identifier, content):
    return bytes([0, identifier]) + struct.pack("!H", len(content)) + content


MN_RAND = "11" * 32
HAC_RAND = "22" * 32


def headers(*pairs):
    return "".join(f"{name}: {value}\r\n" for name, value in pairs).encode()


INIT_REQUEST = headers(("mn-id", "laptop@home.example"), ("auth-method", "psk"), ("mn-rand", MN_RAND))
INIT_RESPONSE = headers(("auth-method", "psk"), ("mn-rand", MN_RAND), ("hac-rand", HAC_RAND))
DONE_REQUEST = headers(("mip6-sas", "1"), ("mip6-suitelist", "{13,01},{00,3C}"), ("mn-rand", MN_RAND), ("hac-rand", HAC_RAND))
DONE_RESPONSE = headers(
    ("mip6-sas", "1"), ("mip6-ciphersuite", "{13,01}"), ("mip6-spi", "4242"),
    ("mip6-mn-to-ha-ekey", "01" * 20), ("mip6-ha-to-mn-ekey", "03" * 20),
    ("mip6-sa-validity-end", "Fri, 15 Jan 2027 08:00:00 GMT"), ("mip6-haa-ip6", "2001:0db8:0000:0000:0000:0000:0000:0001"),
    ("mip6-haa-ip4", "198.51.100.1"), ("mip6-port", "7872"), ("mip6-ip6-hoa", "fd77:0000:0000:0000:0000:0000:0000:0002"),
    ("mip6-ip4-hoa", "10.77.0.2"), ("mip6-ip6-hnp", "fd77:0000:0000:0000:0000:0000:0000:0000/64"),
    ("mip6-ip4-hnp", "10.77.0.0/24"), ("dns-ip4", "10.77.0.1"), ("mn-rand", MN_RAND), ("hac-rand", HAC_RAND),
    ("status-code", "200"))
AUTH = ("auth: " + "ab" * 32 + "\r\n\r\n").encode()


def hac():
    for name, content in [("init-request", INIT_REQUEST), ("init-response", INIT_RESPONSE), ("done-request", DONE_REQUEST),
                          ("done-response", DONE_RESPONSE), ("error", headers(("status-code", "401"), ("retry-after", "Fri, 15 Jan 2027 08:00:00 GMT")))]:
        write("HACCodec", name, bytes([3]) + hac_container(1, content + AUTH))
    write("HACCodec", "two-containers", bytes([0]) + hac_container(1, INIT_REQUEST + b"\r\n") + hac_container(2, DONE_REQUEST + AUTH))

    def message(identifier, signed, content, delay=1):
        return bytes([identifier, signed]) + struct.pack("!H", len(content)) + content + bytes([delay])
    # Server side (mode 0: the script's first message is MHAuth-Init; mode 2: a genuine Init came first).
    write("PSKExchange", "server-init-done", bytes([0]) + message(1, 0, INIT_REQUEST + b"\r\n") + message(2, 1, DONE_REQUEST))
    write("PSKExchange", "server-done", bytes([2]) + message(2, 1, DONE_REQUEST))
    write("PSKExchange", "server-done-unsigned", bytes([2]) + message(2, 0, DONE_REQUEST + AUTH))
    write("PSKExchange", "server-unknown-id", bytes([0]) + message(1, 0, INIT_REQUEST.replace(b"laptop", b"phone") + b"\r\n"))
    # Client side (mode 1: the first response is the script's; mode 3: a genuine Init response came first).
    write("PSKExchange", "client-init-done", bytes([1]) + message(1, 1, INIT_RESPONSE) + message(2, 1, DONE_RESPONSE))
    write("PSKExchange", "client-done", bytes([3]) + message(2, 1, DONE_RESPONSE))
    write("PSKExchange", "client-error", bytes([3]) + message(2, 1, headers(("status-code", "503"), ("retry-after", "Fri, 15 Jan 2027 08:00:00 GMT"), ("mn-rand", MN_RAND), ("hac-rand", HAC_RAND))))


def netlink_message(msg_type, flags, seq, payload):
    return struct.pack("=IHHII", 16 + len(payload), msg_type, flags, seq, 4242) + payload + bytes((-len(payload)) % 4)


def attribute(attr_type, value):
    return struct.pack("=HH", 4 + len(value), attr_type) + value + bytes((-len(value)) % 4)


def netlink():
    ack = netlink_message(2, 0x100, 7, struct.pack("=i", 0) + struct.pack("=IHHII", 32, 16, 5, 7, 0))
    error = netlink_message(2, 0x200, 8, struct.pack("=i", -17) + struct.pack("=IHHII", 32, 24, 5, 8, 0)
                            + attribute(1, b"File exists\0"))
    link = netlink_message(16, 2, 9, struct.pack("=BxHiII", 0, 1, 3, 1, 0xFFFFFFFF) + attribute(3, b"tern0\0") + attribute(4, struct.pack("=I", 1400)))
    address = netlink_message(20, 2, 9, struct.pack("=BBBBI", 2, 24, 0, 0, 3) + attribute(2, bytes([10, 77, 0, 1])) + attribute(8, struct.pack("=I", 2)))
    route = netlink_message(24, 2, 10, struct.pack("=BBBBBBBBI", 2, 0, 0, 254, 4, 0, 1, 0, 0)
                            + attribute(5, bytes([192, 0, 2, 1])) + attribute(4, struct.pack("=I", 2)) + attribute(15, struct.pack("=I", 254)))
    done = netlink_message(3, 2, 9, struct.pack("=i", 0))
    write("RouteNetlink", "ack", ack)
    write("RouteNetlink", "error-extack", error)
    write("RouteNetlink", "dump", link + address + done)
    write("RouteNetlink", "route", route)
    write("RouteNetlink", "noop-overrun", netlink_message(1, 0, 0, b"") + netlink_message(4, 0, 0, b""))


def virtio(flags, gso_type, header_length, gso_size, start, offset):
    return bytes([flags, gso_type]) + struct.pack("<HHHH", header_length, gso_size, start, offset)


def offload():
    payload = bytes(range(256)) * 12
    # Segmenting: a TCP super-packet (partial checksum, as the kernel hands it over), a UDP one, a plain packet.
    write("Offload", "tso4", bytes([0]) + virtio(1, 1, 40, 1400, 20, 16) + ipv4(6, tcp(40000, 443, 1000, 0x18, payload)))
    write("Offload", "tso4-small-buffer", bytes([2]) + virtio(1, 1, 40, 536, 20, 16) + ipv4(6, tcp(40000, 443, 1000, 0x10, payload[:2000])))
    write("Offload", "tso6", bytes([0]) + virtio(1, 4, 60, 1200, 40, 16) + ipv6(6, tcp(40000, 443, 5, 0x10, payload[:3000],
          bytes.fromhex("fd770000000000000000000000000002"), bytes.fromhex("20010db8000000000000000000000001"))))
    write("Offload", "uso4", bytes([0]) + virtio(1, 5, 28, 1000, 20, 6) + ipv4(17, udp(5000, 5001, payload[:2500])))
    write("Offload", "plain-csum", bytes([0]) + virtio(1, 0, 0, 0, 20, 6) + ipv4(17, udp(5000, 53, b"abc")))
    # Coalescing: consecutive segments of one flow (headroom octet, 16-bit length, packet, flush octet).
    def offer(packet, flush=0x10, headroom=12):
        return bytes([headroom]) + struct.pack("!H", len(packet)) + packet + bytes([flush])
    segments = b"".join(offer(ipv4(6, tcp(40000, 443, 1000 + i * 1000, 0x10, payload[:1000]), ident=i + 1)) for i in range(4))
    write("Offload", "coalesce-tcp", bytes([1]) + segments)
    write("Offload", "coalesce-tcp-psh", bytes([3]) + segments + offer(ipv4(6, tcp(40000, 443, 5000, 0x18, b"end"), ident=9)))
    udps = b"".join(offer(ipv4(17, udp(5000, 5001, payload[:800]), ident=i + 1)) for i in range(3))
    write("Offload", "coalesce-udp", bytes([9]) + udps)
    write("Offload", "coalesce-two-flows", bytes([5]) + segments + b"".join(
        offer(ipv4(6, tcp(40001, 443, 7 + i * 500, 0x10, payload[:500]), ident=20 + i)) for i in range(3)))


def configuration():
    configs = os.path.join(ROOT, "Configs")
    with open(os.path.join(configs, "keys.example.yaml"), "rb") as f:
        keys = f.read()
    for name, selector in [("ha.yaml", 0), ("ha-hac.yaml", 0), ("mn.yaml", 1), ("mn-hac.yaml", 1)]:
        with open(os.path.join(configs, name), "rb") as f:
            text = f.read()
        write("Configuration", name, bytes([selector]) + text + b"\0" + keys)
    write("Configuration", "keys.yaml", bytes([2]) + keys)
    write("Configuration", "flow-style", bytes([0]) + b"{listen: {port: 7872}, mobile-nodes: [{name: a, keys: k.yaml, home-addresses: [10.77.0.2]}]}\0" + keys)
    write("Configuration", "anchors", bytes([1]) + b"a: &x [1, 2]\nb: *x\nhome-agent: {address: 198.51.100.1}\n")


def http():
    for name, text in [("get", b"GET /metrics HTTP/1.1\r\nHost: ha.example:9100\r\nAccept: */*\r\n\r\n"),
                       ("get10", b"GET /metrics?x=1 HTTP/1.0\r\n\r\n"),
                       ("leading-crlf", b"\r\n\r\nHEAD / HTTP/1.1\r\nUser-Agent: Prometheus/2.0\r\n\r\nbody"),
                       ("lf-only", b"GET /metrics HTTP/1.1\nHost: a\n\n"),
                       ("incomplete", b"GET /metrics HTTP/1.1\r\nHost:")]:
        write("HTTPRequestHead", name, text)


def control():
    for name, text in [("status", b"status\n"), ("empty", b"\n"), ("revoke", b"revoke laptop@home.example\n"),
                       ("revoke-nonl", b"revoke phone@home.example")]:
        write("ControlRequest", name, text)


for make in (data_channel, mobility, hac, netlink, offload, configuration, http, control):
    make()
