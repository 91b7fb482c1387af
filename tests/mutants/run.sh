#!/usr/bin/env bash
# The mutation test: builds the tree with every planted bug compiled in
# (-DFS_MUTANTS=ON; each is off unless FS_MUTANT selects it), checks that the
# fast tests pass with none selected, then runs them once per mutant and
# passes only when each mutant makes at least one test fail.  Prints the
# table mutant -> catching test.
#   tests/mutants/run.sh SOURCE_DIR BUILD_DIR
set -uo pipefail
src=${1:?usage: run.sh SOURCE_DIR BUILD_DIR}
build=${2:?usage: run.sh SOURCE_DIR BUILD_DIR}
list="$src/tests/mutants/mutants.txt"
# The fast tests, quickest first (a mutant stops at the first that fails);
# the long fault and flood suites stay out.
fast=(test_hlc test_reclock test_keys test_codec test_envelope test_golden test_tokens test_hq_handle
      test_acks test_policy test_merge test_domain test_store test_faults fuzz_replay_codec
      fuzz_replay_envelope fuzz_replay_hq test_convergence test_e2e_trust test_e2e_sync
      test_e2e_relay test_e2e_receipts test_quote test_e2e_quotes test_e2e_agenda)

log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! { cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFS_MUTANTS=ON \
         -DFS_TEST_HOOKS=ON -DFS_BENCH=OFF && cmake --build "$build" -j"$(nproc)"; } >"$log" 2>&1; then
  cat "$log"
  echo "mutants: the mutant build failed"
  exit 1
fi
run() { # FS_MUTANT value -> the first failing test's name, or "" when all pass
  for t in "${fast[@]}"; do
    if ! FS_MUTANT=$1 FS_PROPTEST_SEEDS=${FS_MUTANT_SEEDS:-300} \
        ctest --test-dir "$build" -R "^$t\$" --output-on-failure >"$log" 2>&1 ||
       ! grep -q "tests passed, 0 tests failed out of 1" "$log"; then
      echo "$t"
      return
    fi
  done
  echo ""
}
base=$(run 0)
if [ -n "$base" ]; then
  cat "$log"
  echo "mutants: with no mutant selected, $base fails; fix that first"
  exit 1
fi
caught=0 total=0 missed=()
printf '%-4s %-20s %-28s %s\n' "N" "area" "caught by" "mutant"
while IFS='|' read -r n area what; do
  case "$n" in ''|\#*) continue ;; esac
  total=$((total + 1))
  by=$(run "$n")
  if [ -n "$by" ]; then caught=$((caught + 1)); else by="SURVIVED"; missed+=("$n"); fi
  printf '%-4s %-20s %-28s %s\n' "$n" "$area" "$by" "$what"
done <"$list"
echo "mutants: $caught of $total caught"
if [ "$caught" -ne "$total" ]; then
  echo "mutants: survived: ${missed[*]}"
  exit 1
fi
