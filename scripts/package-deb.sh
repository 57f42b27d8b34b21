#!/usr/bin/env bash
# Builds a release of `tern` and the Debian package dist/tern_<version>_<arch>.deb (docs/packaging.md).
#
#   bash scripts/package-deb.sh                 release build (static Swift runtime), then the package
#   bash scripts/package-deb.sh --binary PATH   package PATH as it is, no build (a quick check of the
#        [--output DIR]                         packaging itself: the result is not a release when PATH
#                                               needs the Swift runtime from the toolchain)
#
# The version is TernVersion.current in Sources/TernProtocol/Version.swift (what `tern --version` prints). The
# package holds /usr/bin/tern, the systemd units, the docs and the example configs (as examples only:
# nothing in /etc); its maintainer scripts create /etc/tern and /var/lib/tern and never start a daemon.
# scripts/check-package.sh installs the result on a fresh Debian 12 and starts it.
set -euo pipefail
cd "$(dirname "$0")/.."
repository=$(pwd)

log() { printf '[package %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "FATAL: $*"; exit 1; }

binary="" output="$repository/dist"
while [ $# -gt 0 ]; do
    case "$1" in
    --binary) binary=${2:?--binary needs a path}; shift 2 ;;
    --output) output=${2:?--output needs a directory}; shift 2 ;;
    *) die "unknown argument $1 (expected --binary PATH, --output DIR)" ;;
    esac
done

# The libraries a release binary may load: Debian's C runtime and the libraries Tern is written against
# (OpenSSL, libcap, SQLite). Anything else (the Swift runtime, Foundation, ICU) must be linked in.
readonly allowed_libraries='linux-vdso|ld-linux-[a-z0-9_-]+|libc|libm|libdl|libpthread|librt|libutil|libstdc\+\+|libgcc_s|libssl|libcrypto|libcap|libsqlite3|libz'

version=$(sed -n 's/^ *\(public \)\{0,1\}static let current = "\([^"]*\)"$/\2/p' Sources/TernProtocol/Version.swift)
[[ $version =~ ^[0-9][A-Za-z0-9.+~]*$ ]] ||
    die "no version in Sources/TernProtocol/Version.swift (expected: public static let current = \"X.Y.Z\")"
arch=$(dpkg --print-architecture)

if ! command -v dpkg-shlibdeps >/dev/null 2>&1; then
    log "installing dpkg-dev (dpkg-shlibdeps)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends dpkg-dev >/dev/null
fi
if ! command -v swift >/dev/null 2>&1 && [ -x /opt/swift/usr/bin/swift ]; then export PATH="/opt/swift/usr/bin:$PATH"; fi

release=1
if [ -z "$binary" ]; then
    command -v swift >/dev/null 2>&1 || die "no Swift toolchain on PATH or at /opt/swift"
    log "swift build -c release --product tern --static-swift-stdlib"
    start=$SECONDS
    swift build -c release --product tern --static-swift-stdlib
    log "release build: $((SECONDS - start)) s"
    binary="$(swift build -c release --static-swift-stdlib --show-bin-path)/tern"
else
    release=0
    log "packaging $binary as it is (no build): not a release unless it is a static release build"
fi
[ -x "$binary" ] || die "$binary is not an executable"

# The binary must run, say the version the package will carry, and load nothing but allowed libraries.
binary_version=$("$binary" --version) || die "$binary --version failed"
[ "$binary_version" = "$version" ] || die "$binary --version says $binary_version, Version.swift says $version"
libraries=$(ldd "$binary" | awk '{ print $1 }' | sed 's|.*/||; s/\.so.*//')
foreign=$(grep -Evx "$allowed_libraries" <<<"$libraries" || true)
if [ -n "$foreign" ]; then
    [ "$release" = 0 ] || die "the release binary loads libraries that are not Debian's: $(echo $foreign) (ldd $binary)"
    log "note: $binary loads $(echo $foreign): fine for a packaging check, not for a release"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tree="$work/tern_${version}_${arch}"
doc="$tree/usr/share/doc/tern"

log "assembling the package tree"
install -D -m 0755 "$binary" "$tree/usr/bin/tern"
if [ "$release" = 1 ]; then
    # As Debian's dh_strip does: debug information and the static symbol table out (104 MB → 68 MB for
    # 0.1.0); the dynamic symbols stay. A crash then shows addresses, to be read against the unstripped
    # .build/release/tern of the same commit.
    strip --strip-unneeded --remove-section=.comment "$tree/usr/bin/tern"
fi
for unit in tern-ha tern-mn; do
    role=${unit#tern-}
    grep -qx "ExecStart=/usr/bin/tern $role --config /etc/tern/$role.yaml" "Configs/systemd/$unit.service" ||
        die "Configs/systemd/$unit.service: ExecStart is not /usr/bin/tern $role --config /etc/tern/$role.yaml"
    grep -qx "ConditionPathExists=/etc/tern/$role.yaml" "Configs/systemd/$unit.service" ||
        die "Configs/systemd/$unit.service: no ConditionPathExists=/etc/tern/$role.yaml"
    install -D -m 0644 "Configs/systemd/$unit.service" "$tree/lib/systemd/system/$unit.service"
done
# README.md stays uncompressed: the units' Documentation= points at it. docs/ keeps its name so the
# README's links (docs/gateway.md, …) hold.
install -D -m 0644 README.md "$doc/README.md"
install -d -m 0755 "$doc/docs" "$doc/examples"
install -m 0644 docs/*.md "$doc/docs/"
install -m 0644 Configs/*.yaml "$doc/examples/"
install -m 0644 Configs/systemd/*.service "$doc/examples/"

# copyright: Tern's, then the packages and the runtime linked into the binary, with their licence texts.
licence_name() {  # licence_name FILE: the licence a licence file states, as far as its first lines say
    if grep -q 'Apache License' "$1"; then echo "Apache License 2.0"
    elif grep -qE 'MIT License|Permission is hereby granted, free of charge' "$1"; then echo "MIT License"
    else echo "see the file"; fi
}
{
    echo "tern: a mobility VPN (RFC 6618 Mobile IPv6 security over TLS)."
    echo
    echo "Copyright: the Tern authors."
    if [ -f LICENSE ]; then echo "License: $(licence_name LICENSE); the text is in /usr/share/doc/tern/LICENSE."
    else echo "License: not stated yet (the source repository has no LICENSE file)."; fi
    echo
    echo "Linked into /usr/bin/tern, each with its licence text in /usr/share/doc/tern/third-party/NAME/:"
    for checkout in .build/checkouts/*/; do
        name=$(basename "$checkout")
        licence=$(find "$checkout" -maxdepth 1 -iname 'LICEN[CS]E*' | sort | head -1)
        [ -n "$licence" ] || die "$checkout has no licence file"
        install -D -m 0644 "$licence" "$doc/third-party/$name/$(basename "$licence")"
        echo " - $name: $(licence_name "$licence")"
    done
    swift_licence=$(dirname "$(command -v swift || echo /opt/swift/usr/bin/swift)")/../share/swift/LICENSE.txt
    [ -f "$swift_licence" ] || die "no $swift_licence: the Swift runtime's licence must ship with the binary"
    install -D -m 0644 "$swift_licence" "$doc/third-party/swift-runtime/LICENSE.txt"
    echo " - swift-runtime (standard library, Foundation, Dispatch): Apache License 2.0 with Runtime Library Exception"
} >"$doc/copyright"
if [ -f LICENSE ]; then install -m 0644 LICENSE "$doc/LICENSE"; fi
chmod 0644 "$doc/copyright"

commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
maintainer=${TERN_MAINTAINER:-Tern maintainers <tern@example.net>}
{
    echo "tern ($version) unstable; urgency=medium"
    echo
    echo "  * Built from commit $commit. The history is the source repository's git log."
    echo
    echo " -- $maintainer  $(date -R -d "@$(git log -1 --format=%ct 2>/dev/null || date +%s)")"
} | gzip -9n >"$doc/changelog.gz"
chmod 0644 "$doc/changelog.gz"

# Depends: from the binary's shared libraries and the symbol versions it uses (dpkg-shlibdeps wants a
# debian/control to exist beside it; an empty one will do).
mkdir -p "$work/shlibdeps/debian" && : >"$work/shlibdeps/debian/control"
shlibdeps_options=()
[ "$release" = 1 ] || shlibdeps_options+=(--ignore-missing-info)
depends=$(cd "$work/shlibdeps" && dpkg-shlibdeps "${shlibdeps_options[@]}" -O -e"$tree/usr/bin/tern" 2>"$work/shlibdeps.err") ||
    { cat "$work/shlibdeps.err" >&2; die "dpkg-shlibdeps failed"; }
depends=${depends#shlibs:Depends=}
[ -n "$depends" ] || die "dpkg-shlibdeps found no dependencies for $tree/usr/bin/tern"
# And procps: the units' ExecReload= runs /bin/kill, which a minimal Debian 12 lacks (check-package.sh
# found it: `systemd-analyze verify` says "Command /bin/kill is not executable").
depends="$depends, procps"

install -d -m 0755 "$tree/DEBIAN"
cat >"$tree/DEBIAN/control" <<CONTROL
Package: tern
Version: $version
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $(du -sk --exclude=DEBIAN "$tree" | cut -f1)
Depends: $depends
Recommends: nftables, iproute2
Section: net
Priority: optional
Description: mobility VPN (RFC 6618): a laptop keeps its address while it roams
 Tern runs a Home Agent on a server and a Mobile Node on a laptop. The Mobile
 Node keeps its Home Addresses (IPv4 and IPv6) across Wi-Fi, LTE and NATs; the
 Home Agent owns them and forwards its traffic over one authenticated,
 encrypted UDP port (7872). Keys and addresses can come from the Home Agent's
 controller over TLS with a pre-shared key.
 .
 The units tern-ha and tern-mn start only once /etc/tern/ha.yaml or
 /etc/tern/mn.yaml exists; examples are in /usr/share/doc/tern/examples.
CONTROL
install -m 0755 scripts/debian/postinst scripts/debian/prerm scripts/debian/postrm "$tree/DEBIAN/"
(cd "$tree" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) >"$tree/DEBIAN/md5sums"
chmod 0644 "$tree/DEBIAN/md5sums"

mkdir -p "$output"
deb="$output/tern_${version}_${arch}.deb"
# xz for a release; none for a packaging check (xz takes half a minute of CPU on a debug binary).
compression=xz
[ "$release" = 1 ] || compression=none
dpkg-deb --root-owner-group -Z"$compression" --build "$tree" "$deb" >/dev/null
log "Depends: $depends"
log "built $deb ($(du -k "$deb" | cut -f1) KiB; /usr/bin/tern $(du -k "$tree/usr/bin/tern" | cut -f1) KiB)"
echo "$deb"
