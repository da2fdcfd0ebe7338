# Shared by the test runners: run cmocka binaries, add up their counts, print a summary line.
passed=0
failed=0
run_cmocka_binary() {
    local bin=$1 out rc p f
    out=$(mktemp)
    "$bin" >"$out" 2>&1
    rc=$?
    p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$out" | tail -1)
    f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$out" | tail -1)
    p=${p:-0}
    f=${f:-0}
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi # crashed before cmocka could count
    passed=$((passed + p))
    failed=$((failed + f))
    if [ "$f" -ne 0 ]; then
        echo "FAIL $bin (exit $rc)"
        # cmocka's own lines first: a sanitizer's leak report after a failed assertion (the
        # test's objects were never freed) would push the assertion out of the tail
        awk '/^\[ RUN/ { run = $0; shown = 0 }
             /^\[ +(ERROR|LINE) / { if (!shown) print run; shown = 1; print }
             /^\[  FAILED  \] [a-z]/ && !seen[$0]++ { print }' "$out" | head -40
        echo "--- last 60 lines:"
        tail -60 "$out"
    else
        echo "ok   $bin ($p)"
    fi
    rm -f "$out"
}
summary() {
    echo "$1: $passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}
