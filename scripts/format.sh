#!/usr/bin/env bash
# Formats the C sources by the checked-in .clang-format, or with --check
# reports every file that deviates (the test command runs --check first).
set -euo pipefail
cd "$(dirname "$0")/.."
cf=${CLANG_FORMAT:-clang-format}
if ! command -v "$cf" >/dev/null; then
  echo "format: $cf not found (scripts/setup.sh installs clang-format)" >&2
  exit 2
fi
mapfile -t files < <(git ls-files '*.c' '*.h' | grep -v '^tests/fuzz/corpus/')
if [ "${1:-}" = "--check" ]; then
  bad=$("$cf" --dry-run --Werror "${files[@]}" 2>&1 | grep -o '^[^:]*\.[ch]' | sort -u || true)
  if [ -n "$bad" ]; then
    echo "format: these files deviate from .clang-format (run scripts/format.sh):"
    echo "$bad" | sed 's/^/  /'
    exit 1
  fi
  echo "format: ${#files[@]} files match .clang-format"
else
  "$cf" -i "${files[@]}"
fi
