#!/bin/bash
# Two builds of ferrymqd side by side, in turns: produce COUNT 128 B messages (256 in flight,
# 8 queues) with `ferrymq bench produce`, then consume them back, and the broker's CPU time
# per message of each (from /proc). For a change on the send or pull path: run the build
# before and after it in the same session, REPEAT times each (this machine's runs move by
# 20-30% from one to the next, so one pair says nothing).
#   BIN_A=dir BIN_B=dir [COUNT=500000] [REPEAT=3] bench/ab.sh
# BIN_A and BIN_B hold ferrymqd; B's ferrymq drives both.
set -euo pipefail
count=${COUNT:-500000}
repeat=${REPEAT:-3}
: "${BIN_A:?BIN_A=dir of the first build}" "${BIN_B:?BIN_B=dir of the second build}"
source "$(dirname "$0")/lib.sh"
cpu() { bench_cpu "$1"; }
per_msg() { bench_per_msg "$1" "$2" "$count"; }
for rep in $(seq 1 "$repeat"); do
    for which in A B; do
        if [ "$which" = A ]; then bin=$BIN_A; else bin=$BIN_B; fi
        tmp=$(mktemp -d)
        bench_start_broker "$bin" "$tmp" --httpPort=0
        pid=$BENCH_PID
        ns=$BENCH_NS
        "$BIN_B/ferrymq" -n "$ns" topic create AB --queues 8 >/dev/null
        c0=$(cpu "$pid")
        p=$("$BIN_B/ferrymq" -n "$ns" bench produce -t AB -s 128 -c "$count" -w 256 -q 8 \
            2>/dev/null | grep -o '[0-9]* msgs/s' | head -1)
        c1=$(cpu "$pid")
        c=$("$BIN_B/ferrymq" -n "$ns" bench consume -t AB -s 128 -c "$count" -q 8 2>/dev/null |
            grep -o '[0-9]* msgs/s' | head -1)
        c2=$(cpu "$pid")
        echo "$which rep $rep: produce $p, broker $(per_msg "$c0" "$c1") us/msg;" \
            "consume $c, broker $(per_msg "$c1" "$c2") us/msg"
        kill "$pid"
        wait "$pid" 2>/dev/null || true
        rm -rf "$tmp"
    done
done
