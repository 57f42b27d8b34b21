#!/usr/bin/env bash
# Installs what Tern's tests need on a fresh Debian 12 machine (as root) and runs every test.
# This is the README's test command; .ci/run calls it and nothing else.
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages (scripts/lib/install-packages.sh): the toolchain's, Tern's own, sysctl and ping for
# the network-namespace tests, then what only the tests use: python3 (test helpers), conntrack (NAT
# tests), systemd (systemd-analyze, the unit tests), dpkg-dev (dpkg-shlibdeps, the packaging test),
# ethtool (a TUN device's offload features, TernOSTests), openresolv (the Mobile Node's DNS tests, which
# run it privately: Tests/TernIntegrationTests/PrivateResolver.swift; installing it changes nothing, it
# has no maintainer scripts, so the machine's /etc/resolv.conf stays as it is, unlike Debian's
# resolvconf or systemd-resolved, whose postinst replace it with a link).
source scripts/lib/install-packages.sh
install_missing "${toolchain_packages[@]}" "${tern_build_packages[@]}" "${tern_run_packages[@]}" "${lab_packages[@]}" \
    python3 conntrack systemd dpkg-dev ethtool openresolv
# The Swift toolchain: on PATH, or at /opt/swift as on the project's machines.
use_swift
# scripts/check-fresh-machine.sh checks this install step alone on a fresh Debian 12.
if [ "${TERN_INSTALL_ONLY:-0}" = 1 ]; then swift --version; exit 0; fi

echo "== swift build --build-tests"
swift build --build-tests
echo "== swift test"
swift test
# Every parser strangers reach, under libFuzzer with AddressSanitizer and LeakSanitizer: each harness
# briefly on its committed corpus and crash reproducers (docs/fuzzing.md); needs only the toolchain.
echo "== scripts/fuzz.sh --ci"
scripts/fuzz.sh --ci
echo "== Benchmarks/lib/test_charts.py (the benchmark charts, on saved samples)"
python3 Benchmarks/lib/test_charts.py
