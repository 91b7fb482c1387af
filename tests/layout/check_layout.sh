#!/usr/bin/env bash
# The layout's rules, checked on the source tree (docs/architecture.md):
#  1. outside core/, the engine is reached through core/engine.h only: no
#     file in sync/, server-stub/ or cli/ includes another core/ header;
#  2. the programs (cli/, server-stub/main.c and its command files) include
#     only public <fieldsync/...> headers, the toolkit (clikit.h) and their
#     own headers: never the engine, the wire, or the device command's cli.h
#     from the server;
#  3. the toolkit (cli/kit/) uses only the public API and cJSON;
#  4. sync/ runs no SQL of its own;
#  5. head office's logic lives in server-stub/: no fs_hq_ function is
#     defined outside it.
# Tests and benches may include anything.  Prints every violation; exit 1
# if there is one.
set -u
src=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$src" || exit 2
bad=0
say() { echo "layout: $*"; bad=1; }

core_headers=$(cd core && ls *.h | grep -vx engine.h)
for f in $(ls sync/*.[ch] server-stub/*.[ch] server-stub/*/*.[ch] cli/*.[ch] cli/*/*.[ch] 2>/dev/null); do
  for h in $core_headers; do
    grep -Hn "^#include \"\(\.\./\)*\(core/\)\?$h\"" "$f" && say "$f includes core/$h (use core/engine.h)"
  done
done

for f in cli/*.[ch] cli/kit/*.[ch] $(ls server-stub/*.[ch]); do
  grep -Hn '^#include "' "$f" | while IFS= read -r line; do
    inc=$(echo "$line" | sed 's/.*#include "\(.*\)".*/\1/')
    case "$f:$inc" in
      cli/kit/*:clikit.h) ;;
      cli/kit/*:*) echo "layout: $line: the toolkit includes only clikit.h and public headers" ;;
      cli/*:cli.h|cli/*:clikit.h) ;;
      server-stub/*:clikit.h|server-stub/*:hq_http.h|server-stub/*:https.h|server-stub/*:tlsgen.h) ;;
      server-stub/*:server.h|server-stub/*:cmd.h) ;;
      *) echo "layout: $line: a program includes only public headers, the toolkit and its own" ;;
    esac
  done
done | grep . && bad=1

grep -Hn "sqlite3_" sync/*.c sync/*.h && say "sync/ runs SQL of its own (go through a named core function)"
grep -HnE "^[a-z].*\bfs_hq_[a-z_]+\(" core/*.c sync/*.c cli/*.c cli/kit/*.c \
  && say "head-office functions defined outside server-stub/"
grep -Hn "include.*fieldsync/server.h" core/*.[ch] sync/*.[ch] cli/*.[ch] cli/kit/*.[ch] \
  && say "the library or the device command includes head office's header"

[ $bad -eq 0 ] && echo "layout: every rule holds"
exit $bad
