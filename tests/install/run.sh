#!/bin/bash
# make install into temporary roots, then run what was installed:
# 1. DESTDIR=<tmp> PREFIX=/usr: every file lands where docs/packaging.md says;
# 2. the installed broker starts from the installed broker.conf (only its directory and ports
#    overridden, so tests can run side by side) and the installed ferrymq, resolving the
#    installed libferrymq, produces and consumes through it; /healthz answers;
# 3. the installed replicator starts from the installed replicator.conf and lists its tasks;
# 4. a program built with the installed pkg-config file, header and library runs;
# 5. the man pages name every setting; systemd-analyze verify accepts both units (installed
#    with a real PREFIX, so ExecStart exists) and prints nothing.
# Prints "install: N passed, N failed".
set -u
build=${1:-build}
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
tmp=$(mktemp -d)
pids=()
passed=0
failed=0
ok() { echo "ok   $1"; passed=$((passed + 1)); }
bad() { echo "FAIL $1"; failed=$((failed + 1)); }
cleanup() {
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    rm -rf "$tmp"
}
trap cleanup EXIT

# wait_ready FILE KEY: print KEY's value from a ready file once it is there (30 s at most)
wait_ready() {
    local n=0
    while [ $n -lt 300 ]; do
        if [ -f "$1" ] && grep -q "^$2=" "$1"; then
            sed -n "s/^$2=//p" "$1"
            return 0
        fi
        sleep 0.1
        n=$((n + 1))
    done
    return 1
}

dest=$tmp/root
if make -s install BUILD="$build" DESTDIR="$dest" PREFIX=/usr >"$tmp/install.log" 2>&1; then
    ok "make install DESTDIR PREFIX=/usr"
else
    bad "make install DESTDIR PREFIX=/usr: $(tail -5 "$tmp/install.log")"
fi
missing=""
for f in usr/bin/ferrymqd usr/bin/ferrymq usr/lib/libferrymq.so.1 usr/lib/libferrymq.so \
    usr/include/ferrymq.h usr/lib/pkgconfig/ferrymq.pc usr/share/man/man1/ferrymqd.1 \
    usr/share/man/man1/ferrymq.1 etc/ferrymq/broker.conf etc/ferrymq/replicator.conf \
    etc/logrotate.d/ferrymq usr/lib/systemd/system/ferrymq-broker.service \
    usr/lib/systemd/system/ferrymq-replicator.service usr/share/doc/ferrymq/examples/broker.conf; do
    [ -e "$dest/$f" ] || missing="$missing $f"
done
if [ -z "$missing" ]; then ok "installed files in place"; else bad "missing:$missing"; fi

# the installed CLI finds the installed library, not the build's
if [ "$(ldd "$dest/usr/bin/ferrymq" | sed -n 's/.*libferrymq.so.1 => \([^ ]*\) .*/\1/p' |
    xargs -r realpath)" = "$(realpath "$dest/usr/lib/libferrymq.so.1")" ]; then
    ok "installed ferrymq links the installed libferrymq"
else
    bad "installed ferrymq resolves: $(ldd "$dest/usr/bin/ferrymq" | grep ferrymq)"
fi

bin=$dest/usr/bin
"$bin/ferrymqd" -c "$dest/etc/ferrymq/broker.conf" --storePathRootDir="$tmp/broker" \
    --listenPort=0 --namesrvPort=0 --httpPort=0 --logFile="$tmp/broker.log" \
    >"$tmp/broker.err" 2>&1 &
pids+=($!)
if http=$(wait_ready "$tmp/broker/ready" http); then
    ns=$(sed -n 's/^namesrv=//p' "$tmp/broker/ready")
    if "$bin/ferrymq" -n "127.0.0.1:$ns" produce -t InstallT 'from the installed cli' >"$tmp/p.out" 2>&1 &&
        "$bin/ferrymq" -n "127.0.0.1:$ns" consume -t InstallT --from earliest --count 1 >"$tmp/c.out" 2>&1 &&
        grep -q 'from the installed cli' "$tmp/c.out"; then
        ok "installed broker from broker.conf: produce and consume with the installed cli"
    else
        bad "produce/consume: $(cat "$tmp/p.out" "$tmp/c.out")"
    fi
    if "$bin/ferrymq" -n "127.0.0.1:$ns" cluster >/dev/null 2>&1 &&
        exec 3<>"/dev/tcp/127.0.0.1/$http" && printf 'GET /healthz HTTP/1.0\r\n\r\n' >&3 &&
        grep -q '"ok"' <&3; then
        ok "installed broker: /healthz"
    else
        bad "installed broker: /healthz"
    fi
    exec 3>&- 2>/dev/null
    if grep -q "FM-DAEMON-STARTED" "$tmp/broker.log" && grep -q "cluster=DefaultCluster broker=broker-a" "$tmp/broker.log"; then
        ok "installed broker.conf accepted, logFile written"
    else
        bad "broker log: $(tail -3 "$tmp/broker.log" 2>/dev/null)"
    fi
else
    bad "installed broker did not start: $(tail -5 "$tmp/broker.err")"
fi

"$bin/ferrymqd" -c "$dest/etc/ferrymq/replicator.conf" --storePathRootDir="$tmp/repl" \
    --httpPort=0 --logFile="$tmp/repl.log" >"$tmp/repl.err" 2>&1 &
pids+=($!)
if rhttp=$(wait_ready "$tmp/repl/ready" http) &&
    "$bin/ferrymq" -r "127.0.0.1:$rhttp" task list >"$tmp/t.out" 2>&1 &&
    grep -q "region=east" "$tmp/repl.log"; then
    ok "installed replicator from replicator.conf: task list"
else
    bad "installed replicator: $(tail -5 "$tmp/repl.err" "$tmp/t.out" 2>/dev/null)"
fi

cat >"$tmp/hello.c" <<'C'
#include <ferrymq.h>
#include <stdio.h>
int main(void) { unsigned v = ferrymq_version(); printf("libferrymq %u.%u.%u\n", (v >> 24) & 0xff, (v >> 16) & 0xff, (v >> 8) & 0xff); return 0; }
C
if flags=$(PKG_CONFIG_PATH="$dest/usr/lib/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$dest" pkg-config --cflags --libs ferrymq) &&
    cc -o "$tmp/hello" "$tmp/hello.c" $flags &&
    LD_LIBRARY_PATH="$dest/usr/lib" "$tmp/hello" | grep -q "^libferrymq $("$bin/ferrymq" --version | sed 's/^ferrymq //')$"; then
    ok "a program built with pkg-config ferrymq runs"
else
    bad "pkg-config build: ${flags:-no flags}"
fi

if grep -q '^\.TH FERRYMQD' "$dest/usr/share/man/man1/ferrymqd.1" &&
    grep -q 'listenPort' "$dest/usr/share/man/man1/ferrymqd.1" &&
    grep -q 'httpAllowOrigins' "$dest/usr/share/man/man1/ferrymqd.1" &&
    grep -q '^\.TH FERRYMQ ' "$dest/usr/share/man/man1/ferrymq.1" &&
    grep -q 'produce' "$dest/usr/share/man/man1/ferrymq.1"; then
    ok "man pages from --help"
else
    bad "man pages"
fi

if command -v systemd-analyze >/dev/null 2>&1; then
    pfx=$tmp/prefix
    make -s install BUILD="$build" PREFIX="$pfx" >"$tmp/install2.log" 2>&1
    out=$(systemd-analyze verify --man=no "$pfx/lib/systemd/system/ferrymq-broker.service" \
        "$pfx/lib/systemd/system/ferrymq-replicator.service" 2>&1)
    if [ $? -eq 0 ] && [ -z "$out" ]; then
        ok "systemd-analyze verify: both units"
    else
        bad "systemd-analyze verify: $out"
    fi
else
    echo "skip systemd-analyze verify: not installed"
fi

echo "install: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
