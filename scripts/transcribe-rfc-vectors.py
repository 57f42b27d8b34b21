#!/usr/bin/env python3
"""Transcribes ../shared/spec/test-vectors.md into Swift literals for Tests/TernTestSupport/RFCVectors.swift.

A script, not hand copying, so that no hex digit is mistyped; every entry keeps its source (RFC section,
NIST file or McGrew-Viega document) as the test's name. Run from the repository root:
    python3 scripts/transcribe-rfc-vectors.py > Tests/TernTestSupport/RFCVectors.swift
"""
import re
import sys
from pathlib import Path

SPEC = Path(__file__).resolve().parent.parent.parent / "shared" / "spec" / "test-vectors.md"


def value(text):
    if text == "(empty)":
        return ""
    if text == "00 repeated 1000 times":
        return "00" * 1000
    return text


def quoted(text):
    return '"' + text.replace('"', '\\"') + '"'


def main():
    md = SPEC.read_text()
    entries = []
    # A heading, optional prose lines, then the fenced block.
    for match in re.finditer(r"^#{3,4} ([^\n]+)\n(?:[^#`\n][^\n]*\n)*```\n(.*?)```", md, re.S | re.M):
        fields = {}
        for line in match.group(2).strip().splitlines():
            key, _, val = line.partition(" = ")
            fields[key.strip()] = val.strip()
        entries.append((match.group(1).strip(), fields))

    lists = {name: [] for name in
             ("hmacSHA1Vectors", "hmacSHA256Vectors", "xcbcVectors", "aesCBCVectors", "aesCBCESPVectors",
              "tripleDESVectors", "gcmVectors", "gcmESPVectors", "chachaVectors")}
    for title, f in entries:
        q = quoted
        if title.startswith("RFC 2202"):
            lists["hmacSHA1Vectors"].append(
                f'HMACVector(source: {q(title + " (RFC 2202 §3)")}, key: {q(f["key"])}, data: {q(f["data"])}, '
                f'mac: {q(f["hmac_sha1"])}, mac96: {q(f["hmac_sha1_96"])})')
        elif title.startswith("RFC 4231"):
            mac = f.get("hmac_sha256") or f["hmac_sha256_trunc128"]
            lists["hmacSHA256Vectors"].append(
                f'HMACVector(source: {q(title)}, key: {q(f["key"])}, data: {q(f["data"])}, mac: {q(mac)}, mac96: "")')
        elif title.startswith("RFC 3566"):
            lists["xcbcVectors"].append(
                f'XCBCVector(source: {q(title + " (RFC 3566 §4.6)")}, key: {q(f["key"])}, '
                f'message: {q(value(f["message"]))}, mac: {q(f["aes_xcbc_mac"])}, mac96: {q(f["aes_xcbc_mac_96"])})')
        elif title.startswith("RFC 3602") and "plaintext" in f:
            lists["aesCBCVectors"].append(
                f'BlockVector(source: {q(title + " (RFC 3602 §4)")}, key: {q(f["key"])}, iv: {q(f["iv"])}, '
                f'plaintext: {q(f["plaintext"])}, ciphertext: {q(f["ciphertext"])})')
        elif title.startswith("RFC 3602"):
            lists["aesCBCESPVectors"].append(
                f'ESPCBCVector(source: {q(title + " (RFC 3602 §4)")}, key: {q(f["key"])}, spi: 0x{f["spi"]}, '
                f'sequenceNumber: 0x{f["seq"]}, iv: {q(f["iv"])}, payload: {q(f["payload"])}, '
                f'nextHeader: 0x{f["next_header"]}, padLength: 0x{f["pad_length"]}, '
                f'preEncryption: {q(f["pre_encryption"])}, espWithoutIPHeader: {q(f["esp_without_ip_header"])})')
        elif title.startswith("TCBCMMT3"):
            lists["tripleDESVectors"].append(
                f'BlockVector(source: {q("NIST CAVP " + title + " (3DES-CBC for RFC 2451)")}, key: {q(f["key"])}, '
                f'iv: {q(f["iv"])}, plaintext: {q(f["plaintext"])}, ciphertext: {q(f["ciphertext"])})')
        elif title.startswith("GCM Test Case"):
            lists["gcmVectors"].append(
                f'AEADVector(source: {q("McGrew-Viega GCM spec Appendix B, " + title)}, key: {q(f["key"])}, '
                f'nonce: {q(f["iv"])}, aad: {q(value(f["aad"]))}, plaintext: {q(value(f["plaintext"]))}, '
                f'ciphertext: {q(value(f["ciphertext"]))}, tag: {q(f["tag"])})')
        elif title.startswith("gcm-test-01"):
            ct = f["ctext_tag"]
            lists["gcmESPVectors"].append(
                f'AEADVector(source: {q("draft-mcgrew-gcm-test-01 " + title[len("gcm-test-01 "):])}, '
                f'key: {q(f["key"])}, nonce: {q(f["nonce"])}, aad: {q(f["aad"])}, '
                f'plaintext: {q(f["plaintext_with_esp_trailer"])}, ciphertext: {q(ct[:-32])}, tag: {q(ct[-32:])})')
        elif "poly1305_onetime_key" in f and "RFC 8439" in title:
            lists["chachaVectors"].append(
                f'AEADVector(source: "RFC 8439 §2.8.2 AEAD test vector", key: {q(f["key"])}, nonce: {q(f["nonce"])}, '
                f'aad: {q(f["aad"])}, plaintext: {q(f["plaintext"])}, ciphertext: {q(f["ciphertext"])}, '
                f'tag: {q(f["tag"])})')
        elif "poly1305_onetime_key" in f:
            lists["chachaVectors"].append(
                f'AEADVector(source: "RFC 7634 Appendix A ESP example", key: {q(f["key"])}, nonce: {q(f["nonce"])}, '
                f'aad: {q(f["aad"])}, plaintext: {q(f["plaintext_with_padding"])}, ciphertext: {q(f["ciphertext"])}, '
                f'tag: {q(f["tag"])})')

    out = sys.stdout
    out.write("// Transcribed from ../shared/spec/test-vectors.md by scripts/transcribe-rfc-vectors.py; do not edit.\n")
    out.write("// Each `source` names the RFC section (or NIST / McGrew-Viega document) the values come from.\n\n")
    out.write("// swift-format-ignore-file\n")
    for name, items in lists.items():
        out.write(f"public let {name} = [\n")
        for item in items:
            out.write(f"    {item},\n")
        out.write("]\n\n")
    counts = {name: len(items) for name, items in lists.items()}
    print(counts, file=sys.stderr)


if __name__ == "__main__":
    main()
