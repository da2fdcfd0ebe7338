#!/bin/bash
# Run the integration test binaries: each starts real ferrymqd processes on loopback.
set -u
build=${1:-build}
export FM_FERRYMQD="$PWD/$build/ferrymqd"
export FM_FERRYMQ_CLI="$PWD/$build/ferrymq"
source "$(dirname "$0")/lib/summary.sh"
for bin in "$build"/tests/integration/it_*; do
    [ -x "$bin" ] || continue
    case "$bin" in *.o | *.d) continue ;; esac
    run_cmocka_binary "$bin"
done
summary integration
