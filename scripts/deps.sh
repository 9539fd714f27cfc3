#!/usr/bin/env bash
# Installs the Debian packages dinamo needs, only when something is missing.
# Quiet and quick (a few pkg-config calls) when everything is already there.
#   scripts/deps.sh          what the build needs (make all, the image)
#   scripts/deps.sh test     also Node.js and npm (the ROOT suites compare with
#                            JSROOT, installed from the npm registry) and clang
#                            (make test runs the fuzz targets over their seeds)
#   scripts/deps.sh web      also Node.js and npm (the dashboard's page libraries)
#   scripts/deps.sh fuzz     also clang (libFuzzer)
set -eu
what=${1:-build}
pkgs="libzmq libprotobuf-c lmdb libxsmm openblas criterion zlib liblzma liblz4 libzstd plplot cairo cairo-svg libpng libsodium libmicrohttpd"
tools="protoc-c pkg-config cc make"
case $what in
  build) ;;
  web) tools="$tools node npm" ;;
  test) tools="$tools node npm clang chromium" ;;
  fuzz) tools="$tools clang" ;;
  *) echo "deps: unknown set '$what' (build, web, test or fuzz)" >&2; exit 2 ;;
esac
# The optional tools' packages are asked for only when the tool is absent: a
# machine with another Node.js (NodeSource's bundles npm) has a nodejs that
# conflicts with Debian's npm, and asking for both made apt refuse everything.
extra=
missing=0
for t in $tools; do
  command -v "$t" >/dev/null 2>&1 && continue
  missing=1
  case $t in
    node) extra="$extra nodejs" ;;
    npm|clang|chromium) extra="$extra $t" ;;
  esac
done
if [ $missing = 0 ]; then
  pkg-config --exists $pkgs 2>/dev/null || missing=1
  # PLplot's PNG/SVG devices are a separate package that pkg-config cannot see
  dpkg -s plplot-driver-cairo >/dev/null 2>&1 || missing=1
fi
[ $missing = 0 ] && exit 0

echo "deps: installing missing Debian packages (apt-get)" >&2
if [ "$(id -u)" != 0 ]; then SUDO=sudo; else SUDO=; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
$SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends \
  build-essential pkg-config libzmq3-dev libprotobuf-c-dev protobuf-c-compiler \
  liblmdb-dev lmdb-utils libxsmm-dev libopenblas-dev libcriterion-dev zlib1g-dev liblzma-dev liblz4-dev \
  libzstd-dev libplplot-dev plplot-driver-cairo libcairo2-dev libpng-dev libsodium-dev \
  libmicrohttpd-dev $extra >/dev/null
pkg-config --exists $pkgs || { echo "deps: still missing after install: $pkgs" >&2; exit 1; }
for t in $tools; do
  command -v "$t" >/dev/null 2>&1 || { echo "deps: still missing after install: $t" >&2; exit 1; }
done
