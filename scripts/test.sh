#!/usr/bin/env bash
# The whole test suite: a format check, a release build and an
# AddressSanitizer + UndefinedBehaviorSanitizer build of everything, each run
# through CTest, and a ThreadSanitizer build running the threaded tests (CTest
# label "threaded").  Every build treats warnings as errors.  Installs missing
# Debian packages first (as root, or with sudo).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
jobs=$(nproc)
# The suite makes its own homes, passphrases and keys: a developer's own
# fieldsync settings must not leak into it.
unset FIELDSYNC_HOME FIELDSYNC_SERVER_HOME FIELDSYNC_PASSPHRASE_FILE FIELDSYNC_RECOVERY_CODE_FILE \
  FIELDSYNC_SERVER_KEY_FILE

echo "== release build"
scripts/setup.sh build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFS_TEST_HOOKS=ON -DFS_WERROR=ON
echo "== format check"
scripts/format.sh --check
echo "== release tests"
ctest --test-dir build --output-on-failure -j"$jobs"

echo "== sanitizer build (ASan + UBSan)"
scripts/setup.sh build-asan -DCMAKE_BUILD_TYPE=Debug -DFS_SANITIZE=ON -DFS_BENCH=OFF \
  -DFS_TEST_HOOKS=ON -DFS_WERROR=ON
echo "== sanitizer tests"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  FS_PROPTEST_SEEDS=${FS_PROPTEST_SEEDS_ASAN:-2000} \
  ctest --test-dir build-asan --output-on-failure -j"$jobs"

echo "== thread sanitizer build"
scripts/setup.sh build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFS_TSAN=ON -DFS_BENCH=OFF \
  -DFS_TEST_HOOKS=ON -DFS_WERROR=ON
echo "== thread sanitizer tests (label threaded)"
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
  ctest --test-dir build-tsan --output-on-failure -j"$jobs" -L threaded
