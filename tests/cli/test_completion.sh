#!/usr/bin/env bash
# test_completion: bash completion of both programs, as a person at a
# prompt gets it (cli/completion/fieldsync.bash, run against the real
# binaries of this build).
#   test_completion.sh BUILD_DIR COMPLETION_SCRIPT
# Each case types a command line, presses TAB (calls the completion
# function with COMP_WORDS/COMP_CWORD as bash sets them) and checks the
# words offered: every expected one present, every unexpected one absent.
set -uo pipefail
build=$(cd "$1" && pwd)
PATH=$build:$PATH
# shellcheck source=/dev/null
. "$2"
work=$(mktemp -d "${TMPDIR:-/tmp}/fs-completion.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1
touch prices.csv notes.txt
failures=0 cases=0

# tab WORDS... -- expected words (a word prefixed with ! must be absent)
tab() {
  local -a words=() want=()
  while [ "$1" != "--" ]; do words+=("$1"); shift; done
  shift
  want=("$@")
  COMP_WORDS=("${words[@]}")
  COMP_CWORD=$((${#words[@]} - 1))
  COMPREPLY=()
  _fieldsync
  local got=" ${COMPREPLY[*]} " w
  cases=$((cases + 1))
  for w in "${want[@]}"; do
    if [[ $w == !* ]]; then
      [[ $got == *" ${w#!} "* ]] || continue
    else
      [[ $got == *" $w "* ]] && continue
    fi
    echo "FAIL: '${words[*]}<TAB>' offered [${COMPREPLY[*]}]; expected $w" >&2
    failures=$((failures + 1))
  done
}

tab fieldsync "" -- customer order meeting sync agenda call task quote deal status !serve
tab fieldsync or -- order !customer
tab fieldsync order "" -- new line submit cancel list show
tab fieldsync order line "" -- edit remove
tab fieldsync order line edit --d -- --discount !--sku !--qty
tab fieldsync customer add --c -- --city --country !--name
tab fieldsync refused "" -- show copy dismiss
tab fieldsync --home "$work" cust -- customer
tab fieldsync order show 3F2A91-17 "" -- !new !prices.csv
tab fieldsync-server "" -- serve import report assign lease norms !agenda
tab fieldsync-server import "" -- products prices balances
tab fieldsync-server import prices pr -- prices.csv !notes.txt
tab fieldsync-server report "" -- orders meetings pipeline
tab fieldsync-server report orders --m -- --month !--by
tab fieldsync-server lease "" -- set list
tab fieldsync enroll --token-file no -- notes.txt
tab fieldsync task "" -- add list done edit delete
tab fieldsync call log --d -- --duration !--due
tab fieldsync agenda --w -- --week !--day
tab fieldsync-server norms "" -- set list
tab fieldsync quote "" -- new line send accept reject show list
tab fieldsync quote line "" -- edit remove
tab fieldsync deal ed -- edit !add

echo "test_completion: $cases cases, $failures failures"
[ "$failures" -eq 0 ]
