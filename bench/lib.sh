# bench/lib.sh - what the broker benches share; sourced, not run.
#   bench_start_broker BIN DIR [FLAGS...]: start BIN/ferrymqd on DIR (every port chosen by it,
#     advertised on 127.0.0.1) and wait for its ready file; sets BENCH_PID and BENCH_NS.
#   bench_cpu PID: the process's CPU ticks so far (user + system).
#   bench_per_msg T0 T1 N: microseconds of CPU per message between two bench_cpu readings.
bench_start_broker() {
    local bin=$1 dir=$2
    shift 2
    "$bin/ferrymqd" --storePathRootDir="$dir/fm" --listenPort=0 --namesrvPort=0 \
        --brokerIP1=127.0.0.1 "$@" >"$dir/log" 2>&1 &
    BENCH_PID=$!
    for _ in $(seq 1 100); do
        grep -q '^namesrv=' "$dir/fm/ready" 2>/dev/null && break
        sleep 0.1
    done
    BENCH_NS=127.0.0.1:$(sed -n 's/^namesrv=//p' "$dir/fm/ready")
}
bench_cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
bench_per_msg() {
    awk -v a="$1" -v b="$2" -v n="$3" -v hz="$(getconf CLK_TCK)" \
        'BEGIN { printf "%.2f", (b - a) * 1e6 / hz / n }'
}
