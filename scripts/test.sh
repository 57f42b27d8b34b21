#!/usr/bin/env bash
# Installs what Tern's tests need on a fresh Debian 12 machine (as root) and runs every test.
# This is the README's test command; .ci/run calls it and nothing else.
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages: the OpenSSL headers (all crypto and, later, TLS), libcap (dropping privileges),
# pkg-config (how SwiftPM finds OpenSSL); iproute2, ping and python3 for the network-namespace tests;
# ethtool to read a TUN device's offload features (TernOSTests); openresolv for the Mobile Node's DNS
# tests, which run it privately (Tests/TernIntegrationTests/PrivateResolver.swift). Installing it changes
# nothing: it has no maintainer scripts, so the machine's /etc/resolv.conf stays as it is (unlike Debian's
# resolvconf or systemd-resolved, whose postinst replace it with a link).
packages=(libssl-dev libcap-dev libsqlite3-dev pkg-config iproute2 iputils-ping python3 nftables conntrack openssl systemd ethtool openresolv)
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "== installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The Swift toolchain ships with the machine image at /opt/swift.
if ! command -v swift >/dev/null 2>&1 && [ -x /opt/swift/usr/bin/swift ]; then
    export PATH="/opt/swift/usr/bin:$PATH"
fi
command -v swift >/dev/null 2>&1 || { echo "error: no Swift toolchain on PATH or at /opt/swift" >&2; exit 1; }

echo "== swift build --build-tests"
swift build --build-tests
echo "== swift test"
swift test
echo "== Benchmarks/lib/test_charts.py (the benchmark charts, on saved samples)"
python3 Benchmarks/lib/test_charts.py
