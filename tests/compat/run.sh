#!/bin/bash
# Install the stock npm client(s) pinned in package.json and run them against ferrymqd.
set -euo pipefail
build=${1:-build}
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root/tests/compat"
if [ ! -d node_modules/ali-ons ]; then
    npm install --no-package-lock --no-audit --no-fund --loglevel=error >/dev/null
fi
# Both scripts run even when the first fails; each prints its own "N passed, M failed" line.
rc=0
node alions_test.js "$root/$build/ferrymqd" || rc=1
node alions_repl_test.js "$root/$build/ferrymqd" || rc=1
exit $rc
