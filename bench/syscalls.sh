#!/bin/bash
# System calls per produced message, broker and client side: starts ferrymqd (from BUILD, default
# build/) on a fresh store, creates BenchTopic (8 queues) and counts writev/read with perf while
# `ferrymq bench produce` sends COUNT (default 100000) messages of 128 B with 256 in flight.
#   bench/syscalls.sh [BUILD] [COUNT]
set -eu
B=${1:-build}
N=${2:-100000}
dir=$(mktemp -d)
trap 'kill $D 2>/dev/null || true; rm -rf "$dir"' EXIT
"$B/ferrymqd" --listenPort=0 --namesrvPort=0 --httpPort=0 --storePathRootDir="$dir" >"$dir/log" 2>&1 &
D=$!
for _ in $(seq 100); do [ -s "$dir/ready" ] && break; sleep 0.1; done
export FERRYMQ_NAMESRV=127.0.0.1:$(sed -n 's/^namesrv=//p' "$dir/ready")
"$B/ferrymq" topic create BenchTopic --queues 8 >/dev/null
perf stat -e 'syscalls:sys_enter_writev,syscalls:sys_enter_read' -p $D -o "$dir/broker.txt" &
S=$!
sleep 0.5 # let perf attach before the run; the counts only need to cover it
perf stat -e 'syscalls:sys_enter_writev,syscalls:sys_enter_read' -o "$dir/client.txt" \
    "$B/ferrymq" bench produce -c "$N" -s 128 -w 256 2>&1 | tail -1
kill -INT $S
wait $S || true
echo "broker:"; grep syscalls "$dir/broker.txt"
echo "client:"; grep syscalls "$dir/client.txt"
