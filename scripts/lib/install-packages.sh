# What the README's commands (scripts/demo.sh, scripts/test.sh) install on a fresh Debian 12, sourced.
# scripts/check-fresh-machine.sh checks these lists on a fresh bookworm root.

# What the Swift toolchain at /opt/swift needs from Debian to build Tern (swift.org lists these for
# Debian 12; a machine image with the toolchain already has them): git for SwiftPM's dependencies,
# the C library and GCC's C++ runtime to compile and link against, and the libraries the toolchain's
# own programs load (swift-build: libcurl, libxml2, libncurses, libsqlite3; swift-frontend: libuuid).
toolchain_packages=(git binutils libc6-dev libgcc-12-dev libstdc++-12-dev libcurl4 libxml2 libncurses6 libsqlite3-0 libuuid1 zlib1g ca-certificates)

# What Tern builds against (pkg-config finds OpenSSL, libcap and SQLite) and what runs beside it: `nft`
# for the Home Agent's masquerade (on by default), `ip`, and openssl to make keys.
tern_build_packages=(pkg-config libssl-dev libcap-dev libsqlite3-dev)
tern_run_packages=(iproute2 nftables openssl)
# What the demo and the network-namespace tests run inside their namespaces: sysctl and ping.
lab_packages=(procps iputils-ping)

# install_missing PACKAGE...: apt-get installs those not installed yet (no recommends), quietly.
install_missing() {
    local package missing=()
    for package in "$@"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "== installing ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
    fi
}

# use_swift: the toolchain on PATH, or the one at /opt/swift; stops the script when there is none.
use_swift() {
    if ! command -v swift >/dev/null 2>&1 && [ -x /opt/swift/usr/bin/swift ]; then
        export PATH="/opt/swift/usr/bin:$PATH"
    fi
    command -v swift >/dev/null 2>&1 || { echo "error: no Swift toolchain on PATH or at /opt/swift (Swift 6.3, swift.org)" >&2; exit 1; }
}
