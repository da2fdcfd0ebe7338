#!/bin/bash
# Fail when a module includes a module it may not (style.md 3.1). Prints each violation.
set -u
cd "$(dirname "$0")/.."
allowed() {
    case $1 in
    common) echo "common" ;;
    proto) echo "common proto" ;;
    net) echo "common net" ;;
    store | filter) echo "common proto $1" ;;
    namesrv) echo "common proto net namesrv" ;;
    # the roles (broker, repl) own their HTTP routes; http itself knows no role
    broker) echo "common proto net store filter http broker" ;;
    client) echo "common proto net client" ;;
    replicator | cli) echo "common $1" ;;
    repl) echo "common proto net client filter http repl" ;;
    http) echo "common net http" ;; # net: it can run on a role's event loop
    daemon) echo "common proto net store filter namesrv broker client http replicator repl daemon" ;;
    *) echo "" ;;
    esac
}
bad=0
for f in src/*/*.[ch]; do
    mod=$(basename "$(dirname "$f")")
    ok=" $(allowed "$mod") "
    while read -r inc; do
        dep=${inc%%/*}
        if [[ "$ok" != *" $dep "* ]]; then
            echo "check-includes: $f includes \"$inc\" but $mod may not use $dep"
            bad=1
        fi
    done < <(sed -n 's/^#include "\([a-z]*\/[^"]*\)".*/\1/p' "$f")
done
[ $bad -eq 0 ] && echo "check-includes: ok"
exit $bad
