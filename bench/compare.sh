#!/bin/bash
# Produce and consume, 128 B and 1 KiB, on one ferrymqd and on one nats-server with
# JetStream (file storage), measured in the same run on this machine. Both servers keep the
# default flush behaviour (ferrymqd ASYNC_FLUSH every 500 ms; JetStream syncs every 2 min).
# The peer runs at its best: NATS_WINDOW (4096) async publishes in flight and 1,000 messages
# per fetch, without acks; ferrymq keeps WINDOW (256) sends in flight and pulls its default
# batch (32).
#   bench/compare.sh [COUNT] [WINDOW] [NATS_WINDOW]
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-200000}
window=${2:-256}
nats_window=${3:-4096}
if ! command -v nats-server >/dev/null || [ ! -e /usr/include/nats/nats.h ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nats-server libnats-dev >/dev/null
fi
make -s -j2 build/ferrymqd build/ferrymq
mkdir -p build/bench
gcc -std=c11 -D_GNU_SOURCE -O2 -o build/bench/nats_bench bench/nats/nats_bench.c -lnats
tmp=$(mktemp -d)
trap 'kill $fm_pid $nats_pid 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$tmp"' EXIT
build/ferrymqd --storePathRootDir="$tmp/fm" --listenPort=0 --namesrvPort=0 --httpPort=0 \
    --brokerIP1=127.0.0.1 >"$tmp/fm.log" 2>&1 &
fm_pid=$!
nats_port=$((20000 + RANDOM % 20000))
nats-server -js -a 127.0.0.1 -p "$nats_port" -sd "$tmp/nats" >"$tmp/nats.log" 2>&1 &
nats_pid=$!
for _ in $(seq 1 100); do
    [ -f "$tmp/fm/ready" ] && grep -q "Server is ready" "$tmp/nats.log" && break
    sleep 0.1
done
ns=127.0.0.1:$(sed -n 's/^namesrv=//p' "$tmp/fm/ready")
echo "# $(date -u +%FT%TZ) count=$count window=$window nats_window=$nats_window fetch=1000"
for size in 128 1024; do
    build/ferrymq -n "$ns" bench produce -t "Cmp$size" -s "$size" -c "$count" -w "$window" 2>/dev/null | sed "s/^/ferrymq $size B /"
    build/ferrymq -n "$ns" bench consume -t "Cmp$size" -c "$count" 2>/dev/null | sed "s/^/ferrymq $size B /"
    build/bench/nats_bench "nats://127.0.0.1:$nats_port" produce "$size" "$count" "$nats_window" | sed "s/^/$size B /"
    build/bench/nats_bench "nats://127.0.0.1:$nats_port" consume "$size" "$count" 1000 | sed "s/^/$size B /"
    # a fresh stream for the next size
    kill $nats_pid; wait $nats_pid 2>/dev/null || true
    rm -rf "$tmp/nats"
    nats-server -js -a 127.0.0.1 -p "$nats_port" -sd "$tmp/nats" >"$tmp/nats.log" 2>&1 &
    nats_pid=$!
    for _ in $(seq 1 100); do grep -q "Server is ready" "$tmp/nats.log" && break; sleep 0.1; done
done
