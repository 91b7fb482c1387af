#!/usr/bin/env bash
# test_install: fieldsync as an application developer gets it.
#   run.sh BUILD_DIR SOURCE_DIR
# Installs the build into a fresh prefix and checks, failing on the first
# broken promise:
#  1. the shared library exports exactly the FS_EXTERN functions of the
#     installed headers, all fs_*, and nothing else;
#  2. each installed header compiles on its own, strict C11;
#  3. pkg-config knows the library at the header's version, and the example
#     builds through pkg-config only (and statically with --static);
#  4. the example builds through the installed CMake package;
#  5. the example, linked to the installed library, unlocked by
#     `fieldsync unlock` (the key cached in the session keyring), records a
#     meeting offline on an enrolled device, syncs with the installed server and
#     prints the conflict a concurrent edit made; the other laptop receives
#     the meeting.
set -euo pipefail
# The devices' keys are cached in a session keyring of this run's own, never
# the caller's (keyctl session: a new anonymous one for this script).
if [ -z "${FS_INSTALL_KEYRING:-}" ] && command -v keyctl >/dev/null; then
  FS_INSTALL_KEYRING=1 exec keyctl session - bash "$0" "$@"
fi
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/fs-install.XXXXXX")
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill -TERM "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "test_install: $*" >&2; exit 1; }
step() { echo "-- $*"; }

p=$work/prefix
step "cmake --install into $p"
cmake --install "$build" --prefix "$p" >"$work/install.log" || { cat "$work/install.log"; fail "install failed"; }
for f in bin/fieldsync bin/fieldsync-server include/fieldsync/fieldsync.h include/fieldsync/device.h \
         lib/libfieldsync.a lib/pkgconfig/fieldsync.pc lib/cmake/fieldsync/fieldsyncConfig.cmake \
         share/bash-completion/completions/fieldsync share/bash-completion/completions/fieldsync-server; do
  [ -e "$p/$f" ] || fail "$f was not installed"
done
[ ! -e "$p/include/fieldsync/server.h" ] || fail "head office's internal header was installed"
so=$(readlink -f "$p/lib/libfieldsync.so")
[ -n "$so" ] && [ -f "$so" ] || fail "lib/libfieldsync.so missing"
soname=$(readelf -d "$so" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
major=$(sed -n 's/^#define FS_VERSION_MAJOR \([0-9]*\)/\1/p' "$p/include/fieldsync/fieldsync.h")
version=$(sed -n 's/^#define FS_VERSION_STRING "\(.*\)"/\1/p' "$p/include/fieldsync/fieldsync.h")
[ "$soname" = "libfieldsync.so.$major" ] || fail "SONAME is '$soname', expected libfieldsync.so.$major"
needed=$(readelf -d "$so")
case "$needed" in *NEEDED*gnutls*) fail "the library depends on GnuTLS directly" ;; esac

step "exported symbols"
nm -D --defined-only "$so" | awk '$2 ~ /^[TDBRVWiu]$/ {print $3}' | sort -u >"$work/exports"
cat "$p"/include/fieldsync/*.h | tr '\n' ' ' | grep -o 'FS_EXTERN[^;]*;' |
  grep -o '\bfs_[a-z0-9_]*\s*(' | tr -d ' (' | sort -u >"$work/declared"
n=$(wc -l <"$work/exports")
[ "$n" -gt 20 ] || fail "only $n exported symbols: the library looks empty"
if ! diff -u "$work/declared" "$work/exports" >"$work/exports.diff"; then
  cat "$work/exports.diff"
  fail "exports differ from the FS_EXTERN declarations (- declared only, + exported only)"
fi
grep -v '^fs_' "$work/exports" && fail "symbols outside fs_ exported"
echo "$n symbols, all fs_, exactly the declared ones"

step "each header on its own"
for h in fieldsync.h device.h; do
  printf '#include <fieldsync/%s>\nint main(void) { return 0; }\n' "$h" >"$work/h.c"
  cc -std=c11 -Wall -Wextra -Wpedantic -Werror -I"$p/include" -c "$work/h.c" -o "$work/h.o" ||
    fail "$h does not compile on its own"
done

step "pkg-config"
export PKG_CONFIG_PATH=$p/lib/pkgconfig
[ "$(pkg-config --modversion fieldsync)" = "$version" ] || fail "pkg-config version is not $version"
# shellcheck disable=SC2046
cc -std=c11 -Wall -Wextra -Werror "$src/examples/meeting_sync.c" -o "$work/meeting_sync" \
  $(pkg-config --cflags --libs fieldsync) || fail "the example does not build through pkg-config"
# the static library with its dependencies shared (what Requires.private
# names; Debian ships libcurl's own dependencies as shared libraries only)
deps=$(pkg-config --print-requires-private fieldsync | awk '{print $1}' | tr '\n' ' ')
# shellcheck disable=SC2046,SC2086
cc -std=c11 -Wall -Wextra -Werror "$src/examples/meeting_sync.c" -o "$work/meeting_sync_static" \
  $(pkg-config --cflags fieldsync) "$p/lib/libfieldsync.a" $(pkg-config --libs $deps) -pthread \
  || fail "the example does not link with the static library"
case "$(readelf -d "$work/meeting_sync_static")" in
  *NEEDED*libfieldsync*) fail "the static example still needs libfieldsync.so" ;;
esac
# (outputs are captured before they are searched: with pipefail, grep -q
# closing the pipe early would fail the pipeline)
linked=$(LD_LIBRARY_PATH=$p/lib ldd "$work/meeting_sync")
case "$linked" in
  *"$p/lib/libfieldsync.so.$major"*) ;;
  *) echo "$linked"; fail "the example is not linked to the installed library" ;;
esac

step "CMake package"
cmake -S "$src/examples" -B "$work/ex" -DCMAKE_PREFIX_PATH="$p" >"$work/ex.log" 2>&1 &&
  cmake --build "$work/ex" >>"$work/ex.log" 2>&1 || { cat "$work/ex.log"; fail "the example does not build through find_package(fieldsync)"; }

step "versions"
[ "$("$p/bin/fieldsync" --version)" = "fieldsync $version" ] || fail "fieldsync --version is not $version"
[ "$("$p/bin/fieldsync-server" --version)" = "fieldsync-server $version" ] || fail "fieldsync-server --version is not $version"

step "the example against the installed server"
fs="$p/bin/fieldsync"
hq="$p/bin/fieldsync-server"
H=$work/hq
"$hq" --home "$H" init --json >"$work/init.json"
cert=$H/tls/cert.pem
[ -f "$cert" ] || fail "no certificate at $cert"
"$hq" --home "$H" serve --listen 127.0.0.1:0 --port-file "$work/port" 2>"$work/server.log" &
server_pid=$!
for _ in $(seq 200); do [ -s "$work/port" ] && break; sleep 0.05; done
[ -s "$work/port" ] || { cat "$work/server.log"; fail "the server did not start"; }
url="https://127.0.0.1:$(cat "$work/port")"
# the passphrase of both laptops, in a file only its owner reads
(umask 077 && printf 'install test passphrase\n' >"$work/pass")
export FIELDSYNC_PASSPHRASE_FILE=$work/pass
for d in a b; do
  "$fs" --home "$work/$d" init --manager anna >/dev/null
  "$fs" --home "$work/$d" unlock --for 10m >/dev/null
  "$hq" --home "$H" token create --manager anna >"$work/tok.$d"
  "$fs" --home "$work/$d" enroll --server "$url" --token-file "$work/tok.$d" --ca "$cert" >/dev/null
done
unset FIELDSYNC_PASSPHRASE_FILE # from here on the keyring's keys alone
cust=$("$fs" --home "$work/b" customer add --name "Zhōu Trading 周氏贸易" --city Lyon)
"$fs" --home "$work/b" sync >/dev/null
"$fs" --home "$work/a" sync >/dev/null
"$fs" --home "$work/a" customer edit "$cust" --phone "+33 1 111" >/dev/null
"$fs" --home "$work/b" customer edit "$cust" --phone "+33 1 222" >/dev/null
"$fs" --home "$work/b" sync >/dev/null
out=$(LD_LIBRARY_PATH=$p/lib "$work/meeting_sync" "$work/a" "$cust" "stand B12: wants 40 units in March") ||
  fail "the example failed: $out"
echo "$out"
echo "$out" | grep -q "^meeting [0-9a-f-]\{36\} recorded" || fail "the example did not record a meeting"
echo "$out" | grep -q "^synced: pushed [1-9]" || fail "the example did not push its changes"
echo "$out" | grep -q "^conflict customers\.phone " || fail "the example did not print the phone conflict"
"$fs" --home "$work/b" sync >/dev/null
case "$("$fs" --home "$work/b" meeting list --json --customer "$cust")" in
  *"wants 40 units in March"*) ;;
  *) fail "the other laptop did not receive the meeting" ;;
esac
"$work/ex/meeting_sync" 2>/dev/null && fail "the example accepted no arguments"
"$fs" --home "$work/a" lock >/dev/null
LD_LIBRARY_PATH=$p/lib "$work/meeting_sync" "$work/a" "$cust" "after lock" 2>"$work/locked.err" &&
  fail "the example wrote to a locked device"
grep -q "is locked" "$work/locked.err" || { cat "$work/locked.err"; fail "no locked sentence"; }
for d in a b; do "$fs" --home "$work/$d" lock >/dev/null; done
echo "test_install: every check passed"
