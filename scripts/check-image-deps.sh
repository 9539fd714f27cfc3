#!/usr/bin/env bash
# Checks that deploy/Dockerfile's runtime stage installs the Debian package of
# every shared library the built binaries link (readelf NEEDED, resolved by
# ldd, owned per dpkg -S), and the packages that are loaded at run time
# without a NEEDED entry (PLplot's cairo driver and a font). A library the
# base image already has (the C library, or a package of Priority "required",
# which every Debian image holds) needs no line.
# Usage: scripts/check-image-deps.sh [BUILD_DIR] (DINAMO_DOCKERFILE: another
# Dockerfile). Prints what is missing;
# exits 1 when something is, 2 when it cannot check (no dpkg, no binaries).
set -u
build=${1:-${DINAMO_BUILD:-build}}
here=$(cd "$(dirname "$0")/.." && pwd)
dockerfile=${DINAMO_DOCKERFILE:-$here/deploy/Dockerfile}
command -v dpkg-query >/dev/null && command -v readelf >/dev/null || {
    echo "check-image-deps: needs dpkg-query and readelf" >&2; exit 2; }
bins=$(ls "$build"/services/* "$build"/dinamo 2>/dev/null)
[ -n "$bins" ] || { echo "check-image-deps: no binaries under $build" >&2; exit 2; }
# the package names of the last stage's apt-get install lines
runtime=$(awk '/^FROM /{stage=""} {stage = stage "\n" $0} END{print stage}' "$dockerfile" |
          sed -n '/apt-get install/,/rm -rf/p' | tr ' \\' '\n\n' | grep -E '^[a-z0-9][a-z0-9.+-]+$' |
          grep -vE '^(apt-get|install|update|rm|rf|run|no-install-recommends)$' | sort -u)
missing=0
need_pkg() { # package, why
    grep -qx "$1" <<<"$runtime" && return 0
    case $1 in libc6|libgcc-s1) return 0;; esac
    case $1 in libasan*|libubsan*) return 0;; esac # a SAN=1 build; images are not
    [ "$(dpkg-query -W -f='${Priority}' "$1" 2>/dev/null)" = required ] && return 0
    echo "deploy/Dockerfile: runtime stage lacks $1 ($2)"; missing=1
}
for bin in $bins; do
    for lib in $(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
        # "libx.so.1 => /path (addr)"; the dynamic loader (NEEDED when a static
        # library such as LIBXSMM uses its symbols) is listed by path alone
        path=$(ldd "$bin" | awk -v l="$lib" '$1 == l {print $3}
            $2 !~ /^=>/ && substr($1, length($1) - length(l)) == "/" l {print $1}')
        [ -n "$path" ] || { echo "$bin: $lib not found by ldd"; missing=1; continue; }
        pkg=$(dpkg -S "$(readlink -f "$path")" 2>/dev/null | head -n1 | cut -d: -f1)
        [ -n "$pkg" ] || pkg=$(dpkg -S "$path" 2>/dev/null | head -n1 | cut -d: -f1)
        [ -n "$pkg" ] || { echo "$bin: no Debian package owns $path"; missing=1; continue; }
        need_pkg "$pkg" "$(basename "$bin") links $lib"
    done
done
need_pkg plplot-driver-cairo "PLplot loads its cairo driver at run time"
need_pkg fonts-dejavu-core "the figures' text needs a font"
[ $missing = 0 ] && echo "check-image-deps: the runtime stage has every library of $(wc -w <<<"$bins") binaries"
exit $missing
