#!/usr/bin/env bash
# Installs what fieldsync needs on Debian 12 (only the missing packages) and
# builds it into the given directory with the given CMake options.
#   scripts/setup.sh BUILD_DIR [cmake options...]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${1:?usage: scripts/setup.sh BUILD_DIR [cmake options]}
shift

pkgs=(gcc make cmake pkg-config libsqlite3-dev libsodium-dev libcjson-dev
      libcurl4-openssl-dev libmicrohttpd-dev libgnutls28-dev libzstd-dev
      libkeyutils-dev keyutils libfaketime faketime clang-format)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "fieldsync: installing ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! { cmake -S "$here" -B "$build" "$@" && cmake --build "$build" -j"$(nproc)"; } >"$log" 2>&1; then
  cat "$log" >&2
  echo "fieldsync: the build in $build failed (output above)" >&2
  exit 1
fi
