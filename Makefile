# FerryMQ: one non-recursive Makefile (style.md 3.9).
# Modules add sources by living in src/<module>/*.c; unit tests are tests/unit/test_*.c,
# one binary each. `make SAN=1` builds everything with ASan+UBSan into build-asan/.

SAN ?= 0
ifeq ($(SAN),1)
BUILD ?= build-asan
SANFLAGS = -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
OPT = -O1 -g
else
BUILD ?= build
SANFLAGS =
OPT = -O2 -g
endif

CC ?= cc
CFLAGS_BASE = -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE -Isrc -Iinclude -Itests/lib -MMD -MP -pthread
CFLAGS += $(CFLAGS_BASE) $(OPT) $(SANFLAGS) -DFM_FAULT_POINTS=1
LDLIBS = -lcjson -lz -lisal -lpthread
# Only the daemon (and what links libfm.a) serves HTTP; only the CLI speaks it as a client.
# Neither is linked into libferrymq.so.
HTTP_LIBS = -lmicrohttpd
CURL_LIBS = -lcurl
LDFLAGS += $(SANFLAGS)

LIB_MODULES = common proto net store filter namesrv broker client http repl
LIB_SRCS = $(foreach m,$(LIB_MODULES),$(wildcard src/$(m)/*.c))
LIB_OBJS = $(LIB_SRCS:%.c=$(BUILD)/%.o)
CLI_SRCS = $(wildcard src/cli/*.c)
CLI_OBJS = $(CLI_SRCS:%.c=$(BUILD)/%.o)
DAEMON_SRCS = $(wildcard src/daemon/*.c)
# the console (web/) is compiled into ferrymqd: served with no files to find at run time
WEB_FILES = $(sort $(wildcard web/*.html web/*.js web/*.css))
DAEMON_OBJS = $(DAEMON_SRCS:%.c=$(BUILD)/%.o) $(BUILD)/gen/web_assets.o
TESTLIB_SRCS = $(wildcard tests/lib/*.c)
TESTLIB_OBJS = $(TESTLIB_SRCS:%.c=$(BUILD)/%.o)
UNIT_SRCS = $(wildcard tests/unit/test_*.c)
UNIT_BINS = $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/unit/%)
IT_SRCS = $(wildcard tests/integration/it_*.c)
IT_BINS = $(IT_SRCS:tests/integration/%.c=$(BUILD)/tests/integration/%)
BENCH_SRCS = $(wildcard bench/*.c)
BENCH_BINS = $(BENCH_SRCS:bench/%.c=$(BUILD)/bench/%)
PL_BIN = $(BUILD)/tests/powerloss/pl_driver
FUZZ_SRCS = $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS = $(FUZZ_SRCS:tests/fuzz/%.c=build-fuzz/%)

.PHONY: install man test-install all test test-unit test-asan test-integration test-powerloss test-compat test-browser fuzz fuzz-smoke bench format \
        format-check check-includes check-exports clean deps docs

all: $(BUILD)/ferrymqd $(BUILD)/ferrymq $(BUILD)/libferrymq.so.1 $(UNIT_BINS) $(IT_BINS) $(BENCH_BINS) \
     $(PL_BIN)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "CC $<"
	@$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/gen/web_assets.c: $(WEB_FILES) tools/embed-web.sh
	@mkdir -p $(dir $@)
	@echo "EMBED web/"
	@tools/embed-web.sh $@ $(WEB_FILES)

$(BUILD)/gen/web_assets.o: $(BUILD)/gen/web_assets.c
	@$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/libfm.a: $(LIB_OBJS)
	@mkdir -p $(dir $@)
	@rm -f $@ && ar rcs $@ $^

$(BUILD)/ferrymqd: $(DAEMON_OBJS) $(BUILD)/libfm.a
	$(CC) $(LDFLAGS) -o $@ $^ $(HTTP_LIBS) $(LDLIBS)

# libferrymq as a shared library: only what include/ferrymq.h marks FERRYMQ_API is exported
# (-fvisibility=hidden plus a version script); `make check-exports` proves it with nm.
SO_MODULES = common proto net client
SO_SRCS = $(foreach m,$(SO_MODULES),$(wildcard src/$(m)/*.c))
SO_OBJS = $(SO_SRCS:%.c=$(BUILD)/pic/%.o)
$(BUILD)/pic/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "CC(pic) $<"
	@$(CC) $(CFLAGS) -fPIC -fvisibility=hidden -c $< -o $@
$(BUILD)/libferrymq.so.1: $(SO_OBJS) src/client/libferrymq.map
	$(CC) $(LDFLAGS) -shared -Wl,-soname,libferrymq.so.1 -Wl,--version-script=src/client/libferrymq.map -Wl,--no-undefined -o $@ $(SO_OBJS) $(LDLIBS)

check-exports: $(BUILD)/libferrymq.so.1
	@bad=$$(nm -D --defined-only $< | awk '$$2 ~ /[TDBR]/ {print $$3}' | grep -v '^ferrymq_' || true); \
	 if [ -n "$$bad" ]; then echo "exports outside ferrymq_*: $$bad"; exit 1; fi; \
	 echo "exports: $$(nm -D --defined-only $< | awk '$$2 == "T"' | wc -l) ferrymq_ functions, nothing else"

# The CLI uses only the public API, so it links the shared library: every CLI test is also
# a test of libferrymq.so.1 and of its export list.
$(BUILD)/ferrymq: $(CLI_OBJS) $(BUILD)/libferrymq.so.1
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJS) -L$(BUILD) -l:libferrymq.so.1 -Wl,-rpath,'$$ORIGIN:$$ORIGIN/../lib' $(CURL_LIBS) $(LDLIBS)

$(BUILD)/tests/unit/%: $(BUILD)/tests/unit/%.o $(TESTLIB_OBJS) $(BUILD)/libfm.a
	$(CC) $(LDFLAGS) -o $@ $^ -lcmocka $(HTTP_LIBS) $(LDLIBS)

$(BUILD)/tests/integration/%: $(BUILD)/tests/integration/%.o $(TESTLIB_OBJS) $(BUILD)/libfm.a
	$(CC) $(LDFLAGS) -o $@ $^ -lcmocka $(HTTP_LIBS) $(LDLIBS)

$(PL_BIN): $(BUILD)/tests/powerloss/pl_driver.o $(TESTLIB_OBJS) $(BUILD)/libfm.a
	$(CC) $(LDFLAGS) -o $@ $^ $(HTTP_LIBS) $(LDLIBS)

$(BUILD)/bench/%: $(BUILD)/bench/%.o $(TESTLIB_OBJS) $(BUILD)/libfm.a
	$(CC) $(LDFLAGS) -o $@ $^ $(HTTP_LIBS) $(LDLIBS)

# libFuzzer targets: clang, ASan+UBSan; the library is compiled once for them
# (-fsanitize=fuzzer-no-link) and each target links against it.
FUZZ_CFLAGS = $(CFLAGS_BASE) -O1 -g -fsanitize=address,undefined -DFM_FAULT_POINTS=1
FUZZ_LIB_OBJS = $(LIB_SRCS:%.c=build-fuzz/obj/%.o) build-fuzz/obj/src/daemon/settings.o
build-fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "CC(fuzz) $<"
	@clang $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@
build-fuzz/libfm-fuzz.a: $(FUZZ_LIB_OBJS)
	@rm -f $@ && ar rcs $@ $^
build-fuzz/%: tests/fuzz/%.c build-fuzz/libfm-fuzz.a
	@echo "LD(fuzz) $@"
	@clang $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< build-fuzz/libfm-fuzz.a $(HTTP_LIBS) $(LDLIBS)

fuzz: $(FUZZ_BINS)

# Each target runs briefly over its committed corpus (CI budget), then for a few seconds of new inputs.
FUZZ_SECONDS ?= 20
fuzz-smoke: $(FUZZ_BINS)
	@set -e; for f in $(FUZZ_BINS); do n=$$(basename $$f); \
	  mkdir -p tests/fuzz/corpus/$${n#fuzz_} build-fuzz/work-$$n; \
	  echo "fuzz: $$n for $(FUZZ_SECONDS)s"; \
	  $$f -max_total_time=$(FUZZ_SECONDS) -max_len=65536 build-fuzz/work-$$n tests/fuzz/corpus/$${n#fuzz_} \
	     >build-fuzz/$$n.log 2>&1 || { tail -50 build-fuzz/$$n.log; exit 1; }; \
	  grep -E '^(Done|#[0-9]+ *DONE)' build-fuzz/$$n.log | tail -1; done

test-unit: $(UNIT_BINS)
	@tests/run-unit.sh $(BUILD) $(T)

test-integration: $(BUILD)/ferrymqd $(BUILD)/ferrymq $(IT_BINS)
	@tests/run-integration.sh $(BUILD)

# Power cuts on plfs (a FUSE filesystem that keeps only what was fsynced); needs root and
# /dev/fuse. Prints "powerloss: N passed, N failed".
test-powerloss: $(BUILD)/ferrymqd $(PL_BIN)
	@tests/powerloss/run.sh $(BUILD)

# The web console in Debian's chromium (playwright-core from npm) against the two-region demo;
# screenshots in $(BUILD)/browser/. Prints "browser: N passed, N failed".
test-browser: $(BUILD)/ferrymqd $(BUILD)/ferrymq
	@tests/browser/run.sh $(BUILD)

test-compat: $(BUILD)/ferrymqd $(BUILD)/ferrymq
	@tests/compat/run.sh $(BUILD)

test-asan:
	$(MAKE) SAN=1 test-unit test-integration

# What CI and the README's test command run.
test: all
	@tests/run-all.sh

bench: $(BUILD)/ferrymqd $(BENCH_BINS)

# ---- install (PREFIX, DESTDIR as usual; docs/packaging.md) ----
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
MANDIR ?= $(PREFIX)/share/man
DOCDIR ?= $(PREFIX)/share/doc/ferrymq
# /usr installs its configuration in /etc, any other prefix under itself
SYSCONFDIR ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
UNITDIR ?= $(PREFIX)/lib/systemd/system
VERSION = $(shell sed -n 's/^\#define FERRYMQ_VERSION 0x\(..\)\(..\)\(..\)...*/\1 \2 \3/p' include/ferrymq.h | \
            { read a b c; printf '%d.%d.%d' 0x$$a 0x$$b 0x$$c; })

# man pages from each binary's --help and --version, by help2man
man: $(BUILD)/man/ferrymqd.1 $(BUILD)/man/ferrymq.1
$(BUILD)/man/ferrymqd.1: $(BUILD)/ferrymqd
	@mkdir -p $(dir $@)
	help2man --no-info --section=1 --name="FerryMQ broker, name server and replicator (RocketMQ protocol)" -o $@ $<
$(BUILD)/man/ferrymq.1: $(BUILD)/ferrymq $(BUILD)/libferrymq.so.1
	@mkdir -p $(dir $@)
	help2man --no-info --section=1 --name="FerryMQ command-line client: produce, consume, admin, replication tasks" -o $@ $<

install: $(BUILD)/ferrymqd $(BUILD)/ferrymq $(BUILD)/libferrymq.so.1 man
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCLUDEDIR) \
	    $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(SYSCONFDIR)/ferrymq $(DESTDIR)$(SYSCONFDIR)/logrotate.d \
	    $(DESTDIR)$(UNITDIR) $(DESTDIR)$(DOCDIR)/examples
	install -m 0755 $(BUILD)/ferrymqd $(BUILD)/ferrymq $(DESTDIR)$(BINDIR)/
	install -m 0755 $(BUILD)/libferrymq.so.1 $(DESTDIR)$(LIBDIR)/
	ln -sf libferrymq.so.1 $(DESTDIR)$(LIBDIR)/libferrymq.so
	install -m 0644 include/ferrymq.h $(DESTDIR)$(INCLUDEDIR)/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
	    -e 's|@VERSION@|$(VERSION)|' packaging/ferrymq.pc.in >$(DESTDIR)$(LIBDIR)/pkgconfig/ferrymq.pc
	install -m 0644 $(BUILD)/man/ferrymqd.1 $(BUILD)/man/ferrymq.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 0644 packaging/broker.conf packaging/replicator.conf $(DESTDIR)$(SYSCONFDIR)/ferrymq/
	install -m 0644 packaging/broker.conf packaging/replicator.conf $(DESTDIR)$(DOCDIR)/examples/
	install -m 0644 packaging/ferrymq.logrotate $(DESTDIR)$(SYSCONFDIR)/logrotate.d/ferrymq
	for u in broker replicator; do \
	  sed -e 's|@BINDIR@|$(BINDIR)|' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|' packaging/ferrymq-$$u.service.in \
	    >$(DESTDIR)$(UNITDIR)/ferrymq-$$u.service; chmod 0644 $(DESTDIR)$(UNITDIR)/ferrymq-$$u.service; done

# make install into a temporary root, then run what was installed (tests/install/run.sh)
test-install: $(BUILD)/ferrymqd $(BUILD)/ferrymq $(BUILD)/libferrymq.so.1
	@tests/install/run.sh $(BUILD)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

format-check:
	clang-format --dry-run -Werror $$(git ls-files '*.c' '*.h')

check-includes:
	tools/check-includes.sh

docs: $(BUILD)/ferrymqd
	tools/gen-docs.sh

deps:
	scripts/deps

clean:
	rm -rf build build-asan build-fuzz

# Keep intermediate objects (no "rm" after the run; incremental builds stay incremental).
.SECONDARY:

-include $(LIB_OBJS:.o=.d) $(DAEMON_OBJS:.o=.d) $(CLI_OBJS:.o=.d) $(SO_OBJS:.o=.d) $(TESTLIB_OBJS:.o=.d)
-include $(UNIT_BINS:=.d) $(IT_BINS:=.d) $(BENCH_BINS:=.d)
