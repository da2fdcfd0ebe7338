#!/bin/bash
# Run the cmocka unit test binaries of a build dir; T=module runs only test_<module>*.
# Prints one summary line "unit: N passed, N failed" and exits non-zero on any failure.
set -u
build=${1:-build}
filter=${2:-}
source "$(dirname "$0")/lib/summary.sh"
for bin in "$build"/tests/unit/test_${filter}*; do
    [ -x "$bin" ] || continue
    case "$bin" in *.o | *.d) continue ;; esac
    run_cmocka_binary "$bin"
done
summary unit
