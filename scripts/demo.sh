#!/usr/bin/env bash
# The fieldsync demo: a head-office server with its SQLite store and a
# generated certificate on 127.0.0.1, a small catalog, two managers' laptops
# (one manager with two), offline work at an exhibition (a mistake corrected,
# a complaint resolved, a competitor's price noted), a manager's day (a call,
# a quote accepted into an order, a task, a deal, the agenda against head
# office's norms), a concurrent edit of the
# same customer, a customer moved by head office while its old manager was
# offline (his refused meeting kept, with the reason), head office's signed
# receipts, the offline lease, then the merged orders report and the conflict.
# Everything lives in a temporary directory that is removed at the end
# (set FIELDSYNC_DEMO_KEEP=1 to keep it).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
"$here/scripts/setup.sh" "$here/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo
bin="$here/build"
fs="$bin/fieldsync"
hq="$bin/fieldsync-server"

work=$(mktemp -d /tmp/fieldsync-demo.XXXXXX)
server_pid=""
cleanup() {
  for d in "$work"/*-laptop "$work"/*-tablet; do
    [ -d "$d/keys" ] && "$fs" --home "$d" lock >/dev/null 2>&1 || true
  done
  if [ -n "$server_pid" ]; then kill -TERM "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  if [ "${FIELDSYNC_DEMO_KEEP:-0}" = 1 ]; then echo "demo files kept in $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "Head office: keys, self-signed certificate, store"
H="$work/hq"
"$hq" --home "$H" init
cert="$H/tls/cert.pem"

cat > "$work/products.csv" <<'CSV'
sku,name,unit,active
CHAIR-01,Ergonomic chair,piece,1
DESK-02,Standing desk 160x80,piece,1
LAMP-03,LED desk lamp,piece,1
CSV
cat > "$work/prices.csv" <<'CSV'
sku,currency,price
CHAIR-01,EUR,289.00
DESK-02,EUR,649.50
LAMP-03,EUR,39.90
CHAIR-01,SEK,3290.00
CSV
"$hq" --home "$H" import products "$work/products.csv"
"$hq" --home "$H" import prices "$work/prices.csv"
"$hq" --home "$H" norms set --default --calls 30 --meetings 4 --proposals 50

"$hq" --home "$H" serve --listen 127.0.0.1:0 --port-file "$work/port" 2>"$work/server.log" &
server_pid=$!
for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.05; done
port=$(cat "$work/port")
url="https://127.0.0.1:$port"
echo "serving on $url (log: one line per request)"

say "Three laptops: Anna (two devices) and Ben"
# Each laptop's store is encrypted under a key its manager's passphrase
# unwraps.  A script gives the passphrase in a file only its owner reads;
# `unlock` then caches the key in this session's kernel keyring for the
# demo's few minutes, and the cleanup locks every laptop again.
(umask 077 && printf 'demo passphrase, not a real one\n' >"$work/passphrase")
export FIELDSYNC_PASSPHRASE_FILE="$work/passphrase"
for dev in anna-laptop:anna anna-tablet:anna ben-laptop:ben; do
  home="$work/${dev%%:*}"; mgr="${dev##*:}"
  "$fs" --home "$home" init --manager "$mgr" >/dev/null
  "$fs" --home "$home" unlock --for 15m >/dev/null 2>&1 || true # no keyring: the file serves
  tok=$("$hq" --home "$H" token create --manager "$mgr")
  "$fs" --home "$home" enroll --server "$url" --token "$tok" --ca "$cert"
  "$fs" --home "$home" sync >/dev/null
  echo "${dev%%:*}: enrolled for $mgr, catalog received"
done
A="$work/anna-laptop"; T="$work/anna-tablet"; B="$work/ben-laptop"

say "At the exhibition, offline: customers, meetings, orders"
nord=$("$fs" --home "$A" customer add --name "Nordwind Büro GmbH" --city Hamburg --country DE --phone "+49 40 1234")
"$fs" --home "$A" contact add --customer "$nord" --name "Jana Peters" --role Purchasing >/dev/null
"$fs" --home "$A" meeting add --customer "$nord" --at "2026-03-10 10:30" --kind exhibition \
  --place "Orgatec Cologne, hall 8" --notes "wants 40 chairs before summer" >/dev/null
o1=$("$fs" --home "$A" order new --customer "$nord" --currency EUR)
"$fs" --home "$A" order line "$o1" --sku CHAIR-01 --qty 40 --discount 5 >/dev/null
"$fs" --home "$A" order line "$o1" --sku LAMP-03 --qty 40 >/dev/null
echo "a typo: 40 lamps should be 20 -- corrected by the line's number, no id typed:"
"$fs" --home "$A" order line edit "$o1" 2 --qty 20 >/dev/null
"$fs" --home "$A" order submit "$o1"
c1=$("$fs" --home "$A" complaint add --customer "Nordwind Büro GmbH" --text "3 chairs of the last delivery scratched")
"$fs" --home "$A" competitor add --customer "Nordwind Büro GmbH" --competitor Stuhlwerk \
  --product S-200 --price 89.90 --currency EUR --notes "offers free delivery" >/dev/null
"$fs" --home "$A" complaint resolve "$c1" --resolution "3 chairs replaced on the stand" >/dev/null
"$fs" --home "$A" complaint list
balt=$("$fs" --home "$B" customer add --name "Baltic Foods AB" --city Malmö --country SE)
"$fs" --home "$B" meeting add --customer "$balt" --at "2026-03-10 14:00" --kind exhibition --place "Orgatec Cologne, hall 2" >/dev/null
o2=$("$fs" --home "$B" order new --customer "$balt" --currency EUR)
"$fs" --home "$B" order line "$o2" --sku DESK-02 --qty 6 >/dev/null
"$fs" --home "$B" order submit "$o2"
"$fs" --home "$A" order show "$o1"
"$fs" --home "$A" status

say "Back online: everyone syncs"
for d in "$A" "$B" "$T"; do "$fs" --home "$d" sync; done

say "Anna's day on her tablet: a call, a quote, a task, the agenda against the norms"
tomorrow=$(date -d tomorrow +%F); today=$(date +%F)
"$fs" --home "$T" call log --customer "Nordwind Büro GmbH" --outcome "wants 20 more chairs" \
  --duration 7 --follow-up "$tomorrow" >/dev/null
qn=$("$fs" --home "$T" quote new --customer "Nordwind Büro GmbH" --json | sed 's/.*"number":"\([^"]*\)".*/\1/')
"$fs" --home "$T" quote line "$qn" --sku CHAIR-01 --qty 20 >/dev/null
"$fs" --home "$T" quote send "$qn" >/dev/null
"$fs" --home "$T" task add --title "send the floor plan" --customer "Nordwind Büro GmbH" --due "$today" >/dev/null
"$fs" --home "$T" deal add --customer "Nordwind Büro GmbH" --stage proposal --value 5780 --currency EUR \
  --title "2nd floor chairs" --close "$tomorrow" >/dev/null
"$fs" --home "$T" agenda
"$fs" --home "$T" sync >/dev/null

say "Nordwind says yes: on the laptop, quote $qn becomes an order in one step"
"$fs" --home "$A" sync >/dev/null
on=$("$fs" --home "$A" quote accept "$qn" --json | sed 's/.*"order_number":"\([^"]*\)".*/\1/')
"$fs" --home "$A" order submit "$on"
"$fs" --home "$A" order show "$on"

say "A concurrent edit: Anna changes Nordwind's phone on both devices, offline"
"$fs" --home "$A" customer edit "$nord" --phone "+49 40 5550" >/dev/null
"$fs" --home "$T" customer edit "$nord" --phone "+49 40 7770" --status key >/dev/null
for d in "$A" "$T" "$A"; do "$fs" --home "$d" sync >/dev/null; done
echo "the laptop's view of the conflict:"
"$fs" --home "$A" conflicts
echo "laptop and tablet now agree:"
"$fs" --home "$A" customer list
"$fs" --home "$T" customer list

say "Head office sends Nordwind's open balance; Anna sees it before the next order"
printf 'customer_id,currency,open,overdue\n%s,EUR,12400.00,3150.00\n' "$nord" > "$work/balances.csv"
"$hq" --home "$H" import balances "$work/balances.csv"
"$fs" --home "$A" sync >/dev/null
"$fs" --home "$A" customer show "$nord"

say "Head office moves Baltic Foods to Anna while Ben, offline, books a visit there"
"$fs" --home "$B" meeting add --customer "Baltic Foods AB" --at "2026-03-12 09:00" --kind visit >/dev/null
"$hq" --home "$H" assign "$balt" anna
rc=0; "$fs" --home "$B" sync || rc=$?
echo "(sync exit $rc: synced, but head office refused Ben's visit; nothing is lost)"
"$fs" --home "$B" refused
"$fs" --home "$A" sync >/dev/null
echo "Anna's laptop now holds Baltic Foods:"
"$fs" --home "$A" customer list

say "Proof of what head office accepted: its signed receipts"
"$fs" --home "$A" receipts | head -4
"$fs" --home "$A" receipts verify
say "A lost laptop stays locked: each sync renews its offline lease"
"$fs" --home "$A" status | grep -i "unlockable" || true
"$hq" --home "$H" lease list

say "Head office: merged orders report (by manager)"
"$hq" --home "$H" report orders --by manager
say "Head office: the pipeline of deals (weighted by probability)"
"$hq" --home "$H" report pipeline
say "Head office: the conflict, resolved by rule and logged for review"
"$hq" --home "$H" conflicts
say "Head office: audit log"
"$hq" --home "$H" verify-log
say "Every laptop syncs once more; every replica converged"
for d in "$A" "$T" "$B"; do "$fs" --home "$d" sync >/dev/null; done
for dm in "$A:anna" "$T:anna" "$B:ben"; do
  d=${dm%%:*}; m=${dm##*:}
  if [ "$("$fs" --home "$d" export --json)" = "$("$hq" --home "$H" export --json --manager "$m")" ]; then
    echo "$(basename "$d"): identical to head office's data for $m"
  else
    echo "$(basename "$d"): DIFFERS from head office's data for $m" >&2; exit 1
  fi
done
