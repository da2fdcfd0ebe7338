#!/bin/bash
# The whole suite, as CI and the README run it: unit and integration tests on the normal build,
# the same under ASan+UBSan, the stock-client compatibility test, the web console in a browser,
# and a short fuzz run.
# Ends with one line "tests: N passed, N failed".
set -u
cd "$(dirname "$0")/.."
# Called from `make test`: the steps below run their own makes with their own -j, so they must
# not inherit the parent's jobserver (that is what printed "jobserver unavailable" warnings).
unset MAKEFLAGS MFLAGS MAKELEVEL
total_p=0
total_f=0
step() {
    local name=$1
    shift
    local out
    out=$(mktemp)
    echo "== $name"
    "$@" 2>&1 | tee "$out"
    local rc=${PIPESTATUS[0]}
    local line p f
    # Add up every runner's summary line in this step's output.
    p=$(grep -E '^[a-z-]+: [0-9]+ passed, [0-9]+ failed' "$out" | sed 's/.*: \([0-9]*\) passed.*/\1/' | awk '{s+=$1} END {print s+0}')
    f=$(grep -E '^[a-z-]+: [0-9]+ passed, [0-9]+ failed' "$out" | sed 's/.* \([0-9]*\) failed.*/\1/' | awk '{s+=$1} END {print s+0}')
    p=${p:-0}
    f=${f:-0}
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    total_p=$((total_p + p))
    total_f=$((total_f + f))
    rm -f "$out"
}
step "static checks" bash -c 'f=0; tools/check-includes.sh || f=$((f+1)); tools/check-docs.sh || f=$((f+1)); make -s format-check && echo "format: ok" || f=$((f+1)); make -s check-exports || f=$((f+1)); echo "checks: $((4-f)) passed, $f failed"'
step "unit tests" make -s test-unit
step "integration tests" make -s test-integration
step "power loss (plfs)" make -s test-powerloss
# A failed build fails the step (it used to pass with the unit tests silently skipped).
step "unit+integration under ASan/UBSan" bash -c 'rc=0; if make -s -j2 SAN=1 all; then make -s SAN=1 test-unit || rc=1; else rc=1; fi; make -s SAN=1 test-integration || rc=1; exit $rc'
step "compatibility (stock ali-ons client)" make -s test-compat
step "make install (DESTDIR, installed binaries and units)" make -s test-install
step "web console (chromium)" make -s test-browser
step "fuzz smoke" bash -c 'make -s fuzz-smoke && echo "fuzz: $(ls tests/fuzz/fuzz_*.c 2>/dev/null | wc -l) passed, 0 failed"'
echo "tests: $total_p passed, $total_f failed"
[ "$total_f" -eq 0 ]
