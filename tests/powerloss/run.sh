#!/bin/bash
# Power-loss test: ferrymqd on plfs (plfs.py), power cut under load, reboot, check.
#   SYNC_FLUSH: PL_CUTS (default 24) cuts on one store, every acknowledged message readable by
#   a pull after every later cut, recovery never fails.
#   The same for PL_WB_CUTS (default 16) cuts with PLFS_WRITEBACK=0.5 (see plfs.py).
#   ASYNC_FLUSH: PL_ASYNC_CUTS (default 4) cuts, acknowledged losses within
#   flushIntervalCommitLog (PL_FLUSH_MS, default 200) plus PL_SLACK_MS (default 200).
# Ends with one line "powerloss: N passed, N failed".
set -u
build=${1:-build}
cd "$(dirname "$0")/../.."
export FM_FERRYMQD="$PWD/$build/ferrymqd"
export PL_PLFS="$PWD/tests/powerloss/plfs.py"
driver="$PWD/$build/tests/powerloss/pl_driver"
passed=0
failed=0
if [ "$(id -u)" != 0 ] || [ ! -c /dev/fuse ] || ! /usr/bin/python3 -c 'import fusepy' 2>/dev/null; then
    echo "powerloss: needs root, /dev/fuse and python3-fusepy (scripts/deps installs it)"
    echo "powerloss: 0 passed, 1 failed"
    exit 1
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/fm-powerloss-XXXXXX")
cleanup() {
    for m in "$work"/*/mnt; do umount -l "$m" 2>/dev/null; done
    rm -rf "$work"
}
trap cleanup EXIT
one() {
    local name=$1 wb=$2 out
    shift 2
    out="$work/$name.out"
    PLFS_WRITEBACK=$wb PLFS_SEED=${PL_SEED:-7} "$driver" "$@" >"$out" 2>&1
    local rc=$?
    # one summary line per mode; the per-cut lines only with PL_VERBOSE=1 or on a failure
    if [ -n "${PL_VERBOSE:-}" ]; then grep -E '^# cut' "$out"; fi
    echo "-- $name: $(grep -E '^# (sync|async):' "$out" | tail -1 | sed 's/^# [a-z]*: //')"
    local line p f
    line=$(grep '^# pl-result' "$out" | tail -1)
    p=$(echo "$line" | sed -n 's/.*passed=\([0-9]*\).*/\1/p')
    f=$(echo "$line" | sed -n 's/.*failed=\([0-9]*\).*/\1/p')
    p=${p:-0}
    f=${f:-0}
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    if [ "$f" -ne 0 ]; then
        grep -E '^# cut' "$out" | tail -5
        grep -E 'FAILED|did not|cannot|could not' "$out" | head -20
        echo "   broker log (last lines):"
        tail -30 "$work/$name/ferrymqd.log" 2>/dev/null | sed 's/^/   /'
    fi
    passed=$((passed + p))
    failed=$((failed + f))
}
one sync 0 sync "$work/sync" "${PL_CUTS:-24}"
# The same with a disk that also wrote back part of what was never synced (pages, sizes and
# directory entries in any order): torn records, short segments, gaps after rolls.
one sync-writeback 0.5 sync "$work/sync-writeback" "${PL_WB_CUTS:-16}"
one async 0 async "$work/async" "${PL_ASYNC_CUTS:-4}"
echo "powerloss: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
