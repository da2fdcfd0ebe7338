#!/bin/bash
# Replication between two regions on this machine, FerryMQ next to NATS JetStream, in one run:
#   FerryMQ: two ferrymqd brokers (regions east and west, each with its embedded name server,
#   own store, port 0) and one replicator (ferrymqd --role=replicator --httpPort=0) whose tasks
#   are made with `ferrymq -r ... task create`.
#   JetStream: one nats-server -js (file storage); a stream and a second stream mirroring it
#   (two-way: two streams, each mirrored into the other region). A mirror on one server is
#   JetStream's best case: no leafnode or cluster hop. Its client runs at its best: NATS_WINDOW
#   (4,096) async publishes in flight, pulls of 1,000 per request, no acks.
# Measured, 128 B and 1 KiB:
#   catchup  COUNT messages produced with the copy stopped (task created --paused; mirror not
#            yet created), then the copy started: time until the target holds COUNT.
#   live     COUNT messages produced as fast as possible with the copy running: time from the
#            first send until the target holds them all (the copy rate of a live stream).
# and, at LAG_SIZE bytes:
#   lag      RATE msgs/s for LAG_SECS seconds; per message receipt time in the other region
#            minus its send wall time (in the body), one-way and two-way (both regions
#            producing to the same topic; only remote messages count). Two-way runs twice:
#            RATE/2 in each region (RATE in all, the load of the one-way figure) and RATE in
#            each region (twice that load). FerryMQ reads with
#            pull consumers per queue (long polling, batches of 256; two-way: the SQL92 filter
#            FERRY_SRC_REGION IS NOT NULL at the broker, as JetStream's consumers filter by
#            subject at the server); JetStream with a pull
#            consumer keeping two 1,000-message requests open, and with a push consumer.
#            lag-local is the floor of each setup: the same tools on one broker / one stream,
#            read where produced, no copy.
#
#   bench/repl_compare.sh [COUNT] [LAG_SECS] [RATE]     (defaults 1000000 10 20000)
# The CPU columns are the CPU time per message of the servers (both brokers and the replicator;
# nats-server) + of the measuring client, during the measured interval.
# Environment: SIZES ("128 1024"), LAG_SIZE (128), QUEUES (8), FM_WINDOW (1024),
# NATS_WINDOW (4096), ONLY ("catchup live lag": the parts to run), BIN (build: where ferrymqd
# and ferrymq are; not rebuilt when given), REPEAT (1: how many times each part runs, FerryMQ
# and JetStream in turn, FerryMQ restarted on fresh stores before each repetition as
# JetStream's streams are recreated; the table then shows each figure's median and its range,
# and the ratio of the medians: on a shared 2-core machine one run of either side moves by up
# to 2x),
# APPEND=1 appends the table with the date, command and machine to bench/RESULTS.md, KEEP=1
# keeps the temp dir,
# PERF=1 records the replicator with `perf record -g` into $tmp/perf.data (implies KEEP=1).
set -euo pipefail
cmdline="bench/repl_compare.sh $*"
for v in ONLY SIZES LAG_SIZE QUEUES FM_WINDOW NATS_WINDOW REPEAT; do
    [ -z "${!v:-}" ] || cmdline="$v=\"${!v}\" $cmdline"
done
cd "$(dirname "$0")/.."
count=${1:-1000000}
lag_secs=${2:-10}
rate=${3:-20000}
sizes=${SIZES:-128 1024}
lag_size=${LAG_SIZE:-128}
queues=${QUEUES:-8}
fm_window=${FM_WINDOW:-1024}
nats_window=${NATS_WINDOW:-4096}
only=${ONLY:-catchup live lag}
repeat=${REPEAT:-1}
rep=1
bin=${BIN:-build}
[ "${PERF:-0}" = 1 ] && KEEP=1

if ! command -v nats-server >/dev/null || [ ! -e /usr/include/nats/nats.h ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nats-server libnats-dev >/dev/null
fi
[ -n "${BIN:-}" ] || make -s -j2 build/ferrymqd build/ferrymq
make -s -j2 build/bench/repl_lag
gcc -std=c11 -D_GNU_SOURCE -O2 -o build/bench/nats_mirror bench/nats/nats_mirror.c -lnats -lpthread

tmp=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    if [ "${KEEP:-0}" = 1 ]; then echo "# kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT

await_file() { # FILE PATTERN
    for _ in $(seq 1 200); do
        [ -f "$1" ] && grep -q "$2" "$1" && return 0
        sleep 0.05
    done
    echo "repl_compare: $1 never showed $2" >&2
    exit 1
}

# FerryMQ's two brokers and replicator, on fresh store dirs.
fm_up() {
    local region p=()
    for region in east west; do
        "$bin/ferrymqd" --storePathRootDir="$tmp/$region" --listenPort=0 --namesrvPort=0 --httpPort=0 \
            --brokerIP1=127.0.0.1 --brokerName="$region-a" --brokerClusterName="$region" \
            >>"$tmp/$region.log" 2>&1 &
        p+=($!)
    done
    await_file "$tmp/east/ready" '^namesrv='
    await_file "$tmp/west/ready" '^namesrv='
    ns_east=127.0.0.1:$(sed -n 's/^namesrv=//p' "$tmp/east/ready")
    ns_west=127.0.0.1:$(sed -n 's/^namesrv=//p' "$tmp/west/ready")
    "$bin/ferrymqd" --role=replicator --httpPort=0 --storePathRootDir="$tmp/repl" --region=west \
        --replTopicRefreshInterval=1000 --replRebalanceInterval=1000 >>"$tmp/repl.log" 2>&1 &
    repl_pid=$!
    fm_pids="${p[0]} ${p[1]} $repl_pid"
    pids+=("${p[@]}" "$repl_pid")
    await_file "$tmp/repl/ready" '^http='
    export FERRYMQ_REPLICATOR=127.0.0.1:$(sed -n 's/^http=//p' "$tmp/repl/ready")
}
# Stop them and delete their stores: each repetition starts on fresh files, as JetStream's
# does (nats_mirror deletes its streams first). On this VM the first touch of memory the
# page cache has not used before costs a host fault per page; a store kept from the last
# repetition made FerryMQ alone pay that for every new page (the 128 B catch-up after a
# 1 KiB one: 430-450k msgs/s against 530-700k on a fresh store).
fm_down() {
    local p
    for p in $fm_pids; do kill "$p" 2>/dev/null || true; done
    for p in $fm_pids; do wait "$p" 2>/dev/null || true; done
    rm -rf "$tmp/east" "$tmp/west" "$tmp/repl"
}
fm_up
if [ "${PERF:-0}" = 1 ]; then
    perf record -g -o "$tmp/perf.data" -p "$repl_pid" >"$tmp/perf.log" 2>&1 &
    pids+=($!)
fi

nats_port=$((20000 + RANDOM % 20000))
nats-server -js -a 127.0.0.1 -p "$nats_port" -sd "$tmp/nats" >"$tmp/nats.log" 2>&1 &
nats_pid=$!
pids+=($nats_pid)
await_file "$tmp/nats.log" 'Server is ready'
nats_url=nats://127.0.0.1:$nats_port

results=$tmp/results
: >"$results"
# The CPU time the hypervisor gave to other guests (steal), since the ticks $1 read: as a share
# of all ticks of the interval. On this shared VM it moves the lag tail far more than any code
# change, so each figure carries it.
cpu_ticks() { awk '/^cpu / { t = 0; for (i = 2; i <= 9; i++) t += $i; print $9, t }' /proc/stat; }
steal_pct() {
    local s0 t0 s1 t1
    read -r s0 t0 <<<"$1"
    read -r s1 t1 < <(cpu_ticks)
    awk -v s="$((s1 - s0))" -v t="$((t1 - t0))" 'BEGIN { printf "%.1f", (t > 0 ? 100 * s / t : 0) }'
}

run() { # print a tool's lines, keep its RESULT lines (tagged with the repetition and steal)
    local out="$tmp/run.out" ticks
    ticks=$(cpu_ticks)
    "$@" >"$out"
    sed "s/^RESULT /RESULT rep=$rep steal_pct=$(steal_pct "$ticks") /" "$out" | tee -a "$results" |
        grep -v '^RESULT'
}

# Wait until the task (or pair) copies at least one queue: its status lists queues.
await_task() {
    for _ in $(seq 1 200); do
        "$bin/ferrymq" task show "$1" --json 2>/dev/null | grep -q '"queueId"' && return 0
        sleep 0.05
    done
    echo "repl_compare: task $1 never took a queue" >&2
    "$bin/ferrymq" task show "$1" >&2 || true
    exit 1
}

task() { # NAME MODE TOPIC [more task create options]
    local name=$1 mode=$2 topic=$3
    shift 3
    "$bin/ferrymq" task create "$name" --mode "$mode" --source "$ns_east" --source-region east \
        --target "$ns_west" --target-region west --topics "$topic" "$@" >/dev/null
}

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
echo "# $(date -u +%FT%TZ) count=$count lag=${lag_secs}s@${rate}/s lag_size=$lag_size" \
    "queues=$queues fm_window=$fm_window nats_window=$nats_window fetch=1000 $(nproc) cores," \
    "load average $load_start"
for rep in $(seq 1 "$repeat"); do
if [ "$rep" -gt 1 ]; then
    fm_down
    fm_up
fi
for size in $sizes; do
    if [[ " $only " == *" catchup "* ]]; then
        t=Catch${size}r$rep
        task "catch$size" one-way "$t" --from earliest --paused
        "$bin/ferrymq" -n "$ns_east" bench produce -t "$t" -s "$size" -c "$count" -w "$fm_window" \
            -q "$queues" 2>/dev/null | sed "s/^/ferrymq backlog $size B: /"
        run env BENCH_PIDS="$fm_pids" build/bench/repl_lag wait -b "$ns_west" -t "$t" -s "$size" -c "$count" \
            -x "$bin/ferrymq task resume catch$size >/dev/null"
        "$bin/ferrymq" task delete "catch$size" >/dev/null
        run env BENCH_PIDS="$nats_pid" build/bench/nats_mirror "$nats_url" catchup "$size" "$count" "$nats_window"
    fi
    if [[ " $only " == *" live "* ]]; then
        t=Live${size}r$rep
        "$bin/ferrymq" -n "$ns_east" topic create "$t" --queues "$queues" >/dev/null
        task "live$size" one-way "$t" --from earliest
        await_task "live$size"
        run env BENCH_PIDS="$fm_pids" build/bench/repl_lag live -a "$ns_east" -b "$ns_west" -t "$t" -s "$size" \
            -c "$count" -w "$fm_window" -q "$queues"
        "$bin/ferrymq" task delete "live$size" >/dev/null
        run env BENCH_PIDS="$nats_pid" build/bench/nats_mirror "$nats_url" live "$size" "$count" "$nats_window"
    fi
done
if [[ " $only " == *" lag "* ]]; then
    for q in "$ns_east" "$ns_west"; do
        "$bin/ferrymq" -n "$q" topic create "Lag1r$rep" --queues "$queues" >/dev/null
        "$bin/ferrymq" -n "$q" topic create "Lag2r$rep" --queues "$queues" >/dev/null
    done
    # the floor: the same tool on one broker, no replication (messages read where produced)
    run env BENCH_PIDS="$fm_pids" build/bench/repl_lag lag -a "$ns_east" -t "Lag0r$rep" -s "$lag_size" -r "$rate" \
        -d "$lag_secs" -q "$queues"
    task lag1 one-way "Lag1r$rep"
    await_task lag1
    run env BENCH_PIDS="$fm_pids" build/bench/repl_lag lag -a "$ns_east" -b "$ns_west" -t "Lag1r$rep" -s "$lag_size" \
        -r "$rate" -d "$lag_secs" -q "$queues"
    "$bin/ferrymq" task delete lag1 >/dev/null
    # Two-way at RATE in all (RATE/2 produced in each region: the goal's load, the same
    # offered rate as one-way) and at RATE in each region (twice the load).
    task lag2 two-way "Lag2r$rep"
    await_task lag2
    for r in $((rate / 2)) "$rate"; do
        run env BENCH_PIDS="$fm_pids" build/bench/repl_lag lag -a "$ns_east" -b "$ns_west" -2 -t "Lag2r$rep" \
            -s "$lag_size" -r "$r" -d "$lag_secs" -q "$queues"
    done
    "$bin/ferrymq" task delete lag2 >/dev/null
    for way in local one-way two-way two-way-each; do
        for how in pull push; do
            if [ "$way" = two-way ]; then r=$((rate / 2)); else r=$rate; fi
            run env BENCH_PIDS="$nats_pid" build/bench/nats_mirror "$nats_url" lag "$lag_size" "$r" "$lag_secs" \
                "${way%-each}" "$how"
        done
    done
fi
done

# The table: one row per figure, FerryMQ next to JetStream (its best of pull and push for lag).
table() {
echo "| figure | FerryMQ | JetStream | FerryMQ / JetStream | CPU us/msg FerryMQ | CPU us/msg JetStream | goal |"
echo "|---|---|---|---|---|---|---|"
awk '
    function val(line, key,   m) { if (match(line, " " key "=[^ ]+")) { m = substr(line, RSTART + length(key) + 2, RLENGTH - length(key) - 2); return m } return "" }
    function cpu(line) { return sprintf("%.1f + %.1f", val(line, "cpu_srv_us"), val(line, "cpu_cli_us")) }
    /^RESULT/ {
        peer = val($0, "peer"); test = val($0, "test"); size = val($0, "size"); rep = val($0, "rep")
        if (test == "catchup" || test == "live") {
            k = test " " size " B (msgs/s)"; fig = val($0, "rate") + 0
            order[k] = (test == "catchup" ? 0 : 1) * 100000000 + size
        } else {
            # a lag figure is named by the rate offered in all (two-way: the sum of both regions)
            tot = val($0, "rate") * (test ~ /two-way/ ? 2 : 1)
            k = test " " size " B at " tot " msgs/s p50 / p99 / p999 ms"; fig = val($0, "p99_ms") + 0
            order[k] = 900000000 + (test ~ /local/ ? 0 : test ~ /one-way/ ? 1 : 2) * 1000000 + tot
        }
        keys[k] = 1
        # one line per figure, peer and repetition; for lag JetStream keeps the lower p99 of pull
        # and push
        if (!((k, peer, rep) in line)) {
            reps[k, peer, ++nrep[k, peer]] = rep
        } else if (fig >= score[k, peer, rep]) {
            next
        }
        line[k, peer, rep] = $0; score[k, peer, rep] = fig
    }
    # The line of the median repetition of (k, peer) (the lower middle one for an even count);
    # rng gets ", LOW-HIGH over N" when there were several.
    function pick(k, peer,   n, i, j, t, r) {
        n = nrep[k, peer]; rng = ""
        if (n == 0) { return "" }
        for (i = 1; i <= n; i++) { r[i] = reps[k, peer, i] }
        for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (score[k, peer, r[j]] < score[k, peer, r[i]]) { t = r[i]; r[i] = r[j]; r[j] = t }
        if (n > 1) { rng = sprintf(", %s-%s over %d", score[k, peer, r[1]], score[k, peer, r[n]], n) }
        return line[k, peer, r[int((n + 1) / 2)]]
    }
    END {
        n = 0; for (k in keys) { ks[++n] = k }
        for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (order[ks[j]] + 0 < order[ks[i]] + 0) { t = ks[i]; ks[i] = ks[j]; ks[j] = t }
        for (i = 1; i <= n; i++) {
            k = ks[i]
            lf = pick(k, "ferrymq"); rf = rng
            ls = pick(k, "nats"); rs = rng
            if (k ~ /^catchup|^live/) {
                f = val(lf, "rate"); s = val(ls, "rate")
                ratio = (s > 0 && f > 0) ? sprintf("%.2fx", f / s) : "-"
                goal = (k ~ /^catchup/) ? ">= 2x" : "-"
                if (rf != "") { f = f " (" substr(rf, 3) ")" }
                if (rs != "") { s = s " (" substr(rs, 3) ")" }
                f = f " [steal " val(lf, "steal_pct") "%]"; s = s " [steal " val(ls, "steal_pct") "%]"
                printf "| %s | %s | %s | %s | %s | %s | %s |\n", k, f, s, ratio, cpu(lf), cpu(ls), goal
            } else {
                goal = (k ~ /local/) ? "(floor: no copy)" : (k !~ /two-way/) ? "p99 <= 1 ms" : (k ~ (" at " goal_rate " msgs/s")) ? "p99 <= 1.5 ms" : "(" goal_rate " msgs/s in each region)"
                f = val(lf, "p50_ms") " / " val(lf, "p99_ms") " / " val(lf, "p999_ms")
                s = val(ls, "p50_ms") " / " val(ls, "p99_ms") " / " val(ls, "p999_ms")
                printf "| %s | %s (lost %s%s; steal %s%%) | %s (%s, lost %s%s; steal %s%%) | - | %s | %s | %s |\n", k, f, val(lf, "expected") - val(lf, "received"), (rf != "" ? "; p99 " substr(rf, 3) : ""), val(lf, "steal_pct"), s, val(ls, "how"), val(ls, "expected") - val(ls, "received"), (rs != "" ? "; p99 " substr(rs, 3) : ""), val(ls, "steal_pct"), cpu(lf), cpu(ls), goal
            }
        }
    }' goal_rate="$rate" "$results"
}
echo
table | tee "$tmp/table"
cp "$results" build/bench/repl_compare.results # the raw RESULT lines of the last run
load_end=$(cut -d' ' -f1-3 /proc/loadavg)
echo "# load average at the end $load_end"
if [ "${APPEND:-0}" = 1 ]; then
    {
        echo
        echo "### repl_compare.sh run of $(date -u +%F\ %H:%M) UTC"
        echo
        echo "Command: \`$cmdline\`" \
            "at $(git rev-parse --short HEAD); $(nproc) cores ($(uname -r)), load average" \
            "$load_start at the start, $load_end at the end (other sessions share the machine)."
        echo
        cat "$tmp/table"
    } >>bench/RESULTS.md
fi
