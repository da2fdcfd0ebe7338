#!/bin/bash
# Install playwright-core (pinned in package.json; it downloads no browser) and drive the web
# console in Debian's chromium against the two-region demo. Screenshots: build/browser/.
set -euo pipefail
build=${1:-build}
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root/tests/browser"
if [ ! -d node_modules/playwright-core ]; then
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --no-package-lock --no-audit --no-fund \
        --loglevel=error >/dev/null
fi
node console_test.js "$root/$build" "$root/$build/browser"
