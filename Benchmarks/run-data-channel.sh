#!/usr/bin/env bash
# Runs the data-channel benchmarks, then `openssl speed` for the primitives under each suite, and prints
# one summary: Tern's p50 ns per 1420-octet packet (seal, open, round trip), mallocs per 1,000 packets,
# and OpenSSL's ns for the same 1420 octets. See README.md.
#
# Usage: Benchmarks/run-data-channel.sh [extra `swift package benchmark` options, e.g. --filter GCM]
# Environment: OPENSSL_SECONDS (default 3) per `openssl speed` run.
set -euo pipefail
cd "$(dirname "$0")"

seconds="${OPENSSL_SECONDS:-3}"
mkdir -p .build
log=.build/data-channel-benchmarks.txt

# --scale: in ordo-one/benchmark 1.38.1 this prints the raw per-sample figures (1,000 packets per
# sample), not the per-packet ones rounded to integers; the summary below divides by 1,000 itself.
timeout 1800 swift package --allow-writing-to-package-directory benchmark --scale --no-progress "$@" | tee "$log"

# ns for 1420 octets from the last line of `openssl speed` ("NAME  123456.78k", in 1000s of octets/s).
openssl_ns() {
    local bytes="$1"
    shift
    timeout 120 openssl speed -seconds "$seconds" -bytes "$bytes" "$@" 2>/dev/null | tail -1 |
        awk '{ v = $NF; sub(/k$/, "", v); printf "%.1f", 1420 / (v * 1000) * 1e9 }'
}

echo
echo "OpenSSL $(openssl version | awk '{print $2}'), openssl speed -seconds $seconds:"
printf '%-22s %16s %24s\n' "primitive" "ns per 1420 B" "(bulk rate at 16 KiB)"
declare -A floor
for primitive in "aes-128-gcm" "chacha20-poly1305" "aes-256-gcm" "aes-128-cbc" "des-ede3-cbc" "sha1"; do
    if [ "$primitive" = sha1 ]; then args=(sha1); else args=(-evp "$primitive"); fi
    floor[$primitive]=$(openssl_ns 1420 "${args[@]}")
    bulk=$(openssl_ns 16384 "${args[@]}")
    printf '%-22s %16s %24s\n' "$primitive" "${floor[$primitive]}" "$bulk"
done

# What each suite must at least compute per packet, from the figures above (encrypt side: CBC
# encryption is serial, its decryption is faster, so an open can beat this).
suite_floor() {
    case "$1" in
        NULL_SHA) echo "${floor[sha1]}" ;;
        NULL_SHA256) echo "${floor[aes-128-cbc]}" ;;                       # AES-XCBC-MAC is a CBC-MAC
        3DES_EDE_CBC_SHA) awk -v a="${floor[des-ede3-cbc]}" -v b="${floor[sha1]}" 'BEGIN { printf "%.1f", a + b }' ;;
        AES_128_CBC_SHA) awk -v a="${floor[aes-128-cbc]}" -v b="${floor[sha1]}" 'BEGIN { printf "%.1f", a + b }' ;;
        AES_128_CBC_SHA256) awk -v a="${floor[aes-128-cbc]}" 'BEGIN { printf "%.1f", 2 * a }' ;;
        AES_128_GCM_SHA256) echo "${floor[aes-128-gcm]}" ;;
        AES_256_GCM_SHA384) echo "${floor[aes-256-gcm]}" ;;
        CHACHA20_POLY1305_SHA256) echo "${floor[chacha20-poly1305]}" ;;
        *) echo "-" ;;
    esac
}

echo
echo "Tern p50 ns per 1420-octet packet (mallocs per 1,000 packets in brackets; must be 0):"
printf '%-26s %16s %16s %18s %14s\n' "suite" "seal" "open" "roundtrip" "openssl"
floors=""
for suite in NULL_SHA NULL_SHA256 3DES_EDE_CBC_SHA AES_128_CBC_SHA AES_128_CBC_SHA256 \
    AES_128_GCM_SHA256 AES_256_GCM_SHA384 CHACHA20_POLY1305_SHA256; do
    floors+="$suite=$(suite_floor "$suite") "
done
awk -v floors="$floors" '
    function cell(name) {
        if (!(name in wall)) return "-"
        return sprintf("%.1f [%g]", wall[name] / 1000, malloc[name])
    }
    /^╒/ { current = previous }
    { previous = $0 }
    /^│ Malloc \(total\)/ { split($0, f, "│"); malloc[current] = f[5] + 0 }
    /^│ Time \(wall clock\)/ { split($0, f, "│"); wall[current] = f[5] + 0 }
    END {
        n = split(floors, pairs, " ")
        for (i = 1; i <= n; i++) {
            split(pairs[i], kv, "=")
            suite = kv[1]
            printf "%-26s %16s %16s %18s %14s\n", suite, cell("seal 1420 " suite), cell("open 1420 " suite),
                cell("roundtrip 1420 " suite), kv[2]
        }
        for (name in wall) if (name ~ /^replay/) printf "%-48s %16s\n", name, cell(name)
    }
' "$log"
echo "(full benchmark output: Benchmarks/$log)"
