#!/bin/bash
# What serving HTTP costs the produce path (issue 13): one broker with HTTP off
# (--httpPort=-1) and one with HTTP on and polled, in turns, REPEAT times each. "Polled" is
# harder than a real deployment: every 100 ms (the console refreshes every second, Prometheus
# scrapes every 15 s by default) it fetches /metrics, /api/v1/cluster, /api/v1/topics and
# /api/v1/groups, as a console's overview plus a scraper would. Each turn produces COUNT 128 B
# messages (256 in flight, 8 queues) with `ferrymq bench produce`, consumes them back, and
# reads the broker's CPU time per message from /proc.
#   [COUNT=500000] [REPEAT=3] [APPEND=1] bench/http_cost.sh
set -euo pipefail
cd "$(dirname "$0")/.."
count=${COUNT:-500000}
repeat=${REPEAT:-3}
bin=build
make -s -j2 build/ferrymqd build/ferrymq
source bench/lib.sh
cpu() { bench_cpu "$1"; }
per_msg() { bench_per_msg "$1" "$2" "$count"; }
get() { # get PORT PATH: one HTTP/1.0 request, answer discarded
    exec 3<>"/dev/tcp/127.0.0.1/$1" && printf 'GET %s HTTP/1.0\r\n\r\n' "$2" >&3 && cat <&3 >/dev/null
    exec 3>&-
}
poll() { # poll PORT FILE: the console-and-scraper load, until killed; FILE counts the answers
    local n=0
    while :; do
        for p in /metrics /api/v1/cluster /api/v1/topics /api/v1/groups; do
            get "$1" "$p" && n=$((n + 1)) && echo "$n" >"$2"
        done
        sleep 0.1
    done
}
out=$(mktemp)
for rep in $(seq 1 "$repeat"); do
    for mode in off on; do
        tmp=$(mktemp -d)
        port=-1
        [ "$mode" = on ] && port=0
        bench_start_broker "$bin" "$tmp" --httpPort=$port
        pid=$BENCH_PID
        ns=$BENCH_NS
        "$bin/ferrymq" -n "$ns" topic create HT --queues 8 >/dev/null
        poller=""
        if [ "$mode" = on ]; then
            echo 0 >"$tmp/polls"
            poll "$(sed -n 's/^http=//p' "$tmp/fm/ready")" "$tmp/polls" &
            poller=$!
        fi
        c0=$(cpu "$pid")
        p=$("$bin/ferrymq" -n "$ns" bench produce -t HT -s 128 -c "$count" -w 256 -q 8 \
            2>/dev/null | grep -o '[0-9]* msgs/s' | head -1)
        c1=$(cpu "$pid")
        c=$("$bin/ferrymq" -n "$ns" bench consume -t HT -s 128 -c "$count" -q 8 2>/dev/null |
            grep -o '[0-9]* msgs/s' | head -1)
        c2=$(cpu "$pid")
        served=""
        if [ -n "$poller" ]; then
            kill "$poller" 2>/dev/null || true
            wait "$poller" 2>/dev/null || true
            served=" ($(cat "$tmp/polls") HTTP answers meanwhile)"
        fi
        echo "http $mode, rep $rep: produce $p, broker $(per_msg "$c0" "$c1") us/msg;" \
            "consume $c, broker $(per_msg "$c1" "$c2") us/msg$served" | tee -a "$out"
        kill "$pid"
        wait "$pid" 2>/dev/null || true
        rm -rf "$tmp"
    done
done
if [ "${APPEND:-0}" = 1 ]; then
    {
        echo
        echo "### http_cost.sh run of $(date -u '+%Y-%m-%d %H:%M') UTC at $(git rev-parse --short HEAD)"
        echo
        echo "COUNT=$count, REPEAT=$repeat; \"on\" = HTTP served and polled every 100 ms."
        echo
        echo '```'
        cat "$out"
        echo '```'
    } >>bench/RESULTS.md
fi
rm -f "$out"
