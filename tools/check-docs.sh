#!/bin/bash
# Docs say only what is true: every request code the broker and the name server dispatch is
# listed in docs/protocol.md with its number, README and docs link nothing outside the
# repository, and headers describe their module (no notes addressed to helpers).
set -u
cd "$(dirname "$0")/.."
bad=0
codes() { sed -n 's/^ *case FM_REQ_\([A-Z0-9_]*\):.*/\1/p' "$@" | sort -u; }
for name in $(codes src/broker/broker.c src/namesrv/server.c); do
    num=$(sed -n "s/^ *FM_REQ_${name} = \([0-9]*\),.*/\1/p" src/proto/codes.h)
    if ! grep -qE "${name} \(${num}[,)]" docs/protocol.md; then
        echo "check-docs: docs/protocol.md does not list ${name} (${num}), which is served"
        bad=1
    fi
done
if grep -nE '\]\(\.\./|`\.\./shared|\.\./shared/' README.md docs/*.md; then
    echo "check-docs: README/docs point outside the repository (above)"
    bad=1
fi
if grep -rn "NOTE to helpers" src include tests; then
    echo "check-docs: headers must describe their module, not address helpers (above)"
    bad=1
fi
[ "$bad" -eq 0 ] && echo "check-docs: ok"
exit "$bad"
