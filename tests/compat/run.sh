#!/bin/bash
# Install the stock npm client(s) pinned in package.json and run them against ferrymqd.
set -euo pipefail
build=${1:-build}
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root/tests/compat"
if [ ! -d node_modules/ali-ons ]; then
    npm install --no-package-lock --no-audit --no-fund --loglevel=error >/dev/null
fi
exec node alions_test.js "$root/$build/ferrymqd"
