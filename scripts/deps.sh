#!/usr/bin/env bash
# deps.sh — installs what Sealbox needs to build and test on Debian 12, and fetches
# the SQLite3MultipleCiphers amalgamation from its npm package, pinned by integrity.
#
# Usage: scripts/deps.sh [build|test]   (test adds the end-to-end tools)
# Idempotent: installs only what is missing; fetches the amalgamation only once.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_PKGS="gcc make pkg-config libssl-dev libevent-dev libsodium-dev zlib1g-dev libzstd-dev libpcre2-dev libcurl4-openssl-dev"
TEST_PKGS="libcmocka-dev python3 python3-pytest isync clang libclang-rt-14-dev openssl swaks libnet-ssleay-perl postfix unzip"

SQLITE_NPM="better-sqlite3-multiple-ciphers@12.11.1"
SQLITE_SRI="sha512-pG72+3VkUipnmYx4LwQqoOXNG2CJ1HlmDrlvqgr7xQHgsE+cz5rAZEiaJHnUKTHaGfGifggA/C0Sv9qZlUrfow=="
SQLITE_DIR="build/deps/sqlite3mc"

want="$BUILD_PKGS"
# npm comes with the machine's Node.js where there is one; Debian's npm otherwise.
command -v npm >/dev/null 2>&1 || want="$want npm"
[ "${1:-build}" = test ] && want="$want $TEST_PKGS"

missing=""
for p in $want; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "deps: installing$missing"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  # postfix: the tests run a private instance; the system one stays unconfigured and unstarted.
  echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi

# The S3-compatible server of tests/e2e/test_backup.py: @20minutes/s3rver checks
# SigV4 signatures (plain s3rver@3 does not); pinned, installed outside the source
# tree (its tarball has no bin: the test starts it through its JS API).
S3RVER_NPM="@20minutes/s3rver@4.0.4"
S3RVER_DIR="build/deps/s3rver"
if [ "${1:-build}" = test ] && [ ! -f "$S3RVER_DIR/node_modules/@20minutes/s3rver/package.json" ]; then
  echo "deps: installing $S3RVER_NPM"
  mkdir -p "$S3RVER_DIR"
  (cd "$S3RVER_DIR" && npm install --no-audit --no-fund --silent "$S3RVER_NPM" >/dev/null)
fi

if [ ! -f "$SQLITE_DIR/sqlite3.c" ]; then
  echo "deps: fetching $SQLITE_NPM"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent "$SQLITE_NPM" >/dev/null)
  tgz=$(ls "$tmp"/*.tgz)
  # Verify the tarball against the pinned Subresource Integrity hash ourselves,
  # not only against what the registry says.
  got="sha512-$(openssl dgst -sha512 -binary "$tgz" | openssl base64 -A)"
  if [ "$got" != "$SQLITE_SRI" ]; then
    echo "deps: integrity mismatch for $SQLITE_NPM: $got" >&2
    exit 1
  fi
  tar -xzf "$tgz" -C "$tmp" package/deps/sqlite3/sqlite3.c package/deps/sqlite3/sqlite3.h
  mkdir -p "$SQLITE_DIR"
  mv "$tmp/package/deps/sqlite3/sqlite3.h" "$SQLITE_DIR/"
  mv "$tmp/package/deps/sqlite3/sqlite3.c" "$SQLITE_DIR/"
fi
