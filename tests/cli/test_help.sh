#!/usr/bin/env bash
# test_help: every command of both programs teaches its use (issue "help
# that teaches"): `--help` exits 0, prints a Usage line, describes every
# option its usage names on a line of its own, and shows an example.  The
# commands are walked the way bash completion finds them, from the
# programs' own help (cli/completion/fieldsync.bash), so a new verb is
# checked without a list here.
#   test_help.sh BUILD_DIR COMPLETION_SCRIPT
set -uo pipefail
build=$(cd "$1" && pwd)
PATH=$build:$PATH
# shellcheck source=/dev/null
. "$2"
failures=0 checked=0
global=()

fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

check() { # PROG WORDS...
  local prog=$1 help rc opt
  shift
  help=$("$prog" "$@" --help 2>&1)
  rc=$?
  checked=$((checked + 1))
  [ "$rc" -eq 0 ] || fail "'$prog $* --help' exits $rc"
  grep -q "^Usage: $prog $1" <<<"$help" || fail "'$prog $* --help' has no Usage line"
  grep -qE '^Examples?:' <<<"$help" || fail "'$prog $* --help' shows no example"
  grep -q -- '----' <<<"$help" && fail "'$prog $* --help' prints an internal name (----)"
  # every option of the usage lines has a line of its own
  for opt in $(sed -n '/^Usage:/,/^$/p' <<<"$help" | grep -o -- '--[a-z][a-z0-9-]*' | sort -u); do
    case $opt in --json | --home | --help) continue ;; esac
    sed '/^Examples\{0,1\}:/,$d' <<<"$help" | grep -qE "^ +$opt( |,|$)" || fail "'$prog $* --help' names $opt but does not describe it"
  done
}

for prog in fieldsync fieldsync-server; do
  for v in $(_fieldsync_subcommands); do
    subs=$(_fieldsync_subcommands "$v")
    if [ -z "$subs" ]; then
      check "$prog" "$v"
    else
      for s in $subs; do check "$prog" "$v" "$s"; done
    fi
  done
done
echo "test_help: $checked commands, $failures failures"
[ "$checked" -gt 60 ] || fail "only $checked commands found: the walk is broken"
[ "$failures" -eq 0 ]
