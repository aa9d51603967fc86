# det -- deterministic fork/join runtime.  See README.md.
#
#   make          build build/lib/libdet.{a,so}, build/bin/detrun, the apps
#   make demo     install missing packages, build, run the demo
#   make test     install missing packages, build, run every test
#   make sanitize the same tests under AddressSanitizer + UBSan
#   make bench    benchmarks; writes papers/eval/RESULTS.md
#   make lint     physical style checks
#   make install PREFIX=/usr/local

PREFIX  ?= /usr/local
B       ?= build
CC      ?= gcc
VERSION := 0.1.0

PKGS    := libxxhash libdw libelf libseccomp libsodium liblz4
OPT     ?= -O2
CFLAGS_BASE := -std=gnu11 -g $(OPT) -Wall -Wextra -Werror -fPIC \
	-D_GNU_SOURCE -Imerge -Ikern -Inet -Iuser/include -DDET_VERSION=\"$(VERSION)\"
CFLAGS  += $(CFLAGS_BASE) $(EXTRA_CFLAGS)
LIBS    := $(shell pkg-config --libs $(PKGS) 2>/dev/null || \
	echo -lxxhash -ldw -lelf -lseccomp -lsodium -llz4)
# Programs linked with libdet resolve every symbol at load (-z now): lazy
# binding would write the executable's .got.plt in whichever space first
# calls a function (merged as ignored bytes, but a needless dirty page).
LDNOW   := -Wl,-z,now
CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null || echo -lcheck)

NET_SRCS  := $(wildcard net/net_*.c)
NET_OBJS  := $(NET_SRCS:%.c=$(B)/obj/%.o)
LIB_SRCS  := $(wildcard merge/*.c) $(wildcard kern/*.c) $(NET_SRCS) \
	$(wildcard user/lib/*.c)
LIB_OBJS  := $(LIB_SRCS:%.c=$(B)/obj/%.o)
HDRS      := $(wildcard merge/*.h kern/*.h net/*.h user/include/*.h \
	user/lib/*.h)
TEST_SRCS := $(wildcard tests/check_*.c)
TESTS     := $(TEST_SRCS:tests/%.c=$(B)/tests/%)
APP_SRCS  := $(filter-out %_pthread.c,$(wildcard user/apps/*.c))
APPS      := $(APP_SRCS:user/apps/%.c=$(B)/apps/%)
# The pthreads twins of the apps: same flags, no libdet (glibc malloc).
PT_SRCS   := $(wildcard user/apps/*_pthread.c)
PT_APPS   := $(PT_SRCS:user/apps/%.c=$(B)/apps/%)
# detrun --build: the supervisor (in detrun), the job shell, the clock.
BJOB_SRCS := $(wildcard user/bjob/bjob_*.c)
BJOB_OBJS := $(BJOB_SRCS:%.c=$(B)/obj/%.o)

.PHONY: all deps demo test check sanitize bench eval lint install clean fuzz \
	eval-builds bench-builds
all: $(B)/lib/libdet.a $(B)/lib/libdet.so $(B)/lib/pkgconfig/libdet.pc \
	$(B)/bin/detrun $(B)/bin/detd $(APPS) $(PT_APPS) $(TESTS) \
	$(B)/tests/net_prog $(B)/tests/net_relay $(B)/bin/detsh \
	$(B)/lib/libdetclock.so \
	$(B)/lib/libdetdrv.so

deps:
	@sh tests/deps.sh

$(B)/obj/%.o: %.c $(HDRS) Makefile
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(B)/lib/libdet.a: $(LIB_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(B)/lib/libdet.so: $(LIB_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(EXTRA_CFLAGS) -shared -Wl,-soname,libdet.so.0 -o $@.0 $^ \
		$(LIBS)
	ln -sf libdet.so.0 $@

# In-place pkg-config file: usable straight from the build tree.
$(B)/lib/pkgconfig/libdet.pc: user/libdet.pc.in Makefile
	@mkdir -p $(dir $@)
	sed -e 's|@PREFIX@|$(abspath $(B))|;s|@LIBDIR@|$(abspath $(B))/lib|' \
	    -e 's|@INCDIR@|$(abspath user/include)|;s|@VERSION@|$(VERSION)|' \
	    $< > $@

$(B)/bin/detrun: user/detrun.c $(B)/lib/libdet.a $(BJOB_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $< -o $@ $(BJOB_OBJS) $(B)/lib/libdet.a $(LIBS)

$(B)/obj/user/bjob/%.o: user/bjob/%.c user/bjob/bjob.h Makefile
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(B)/bin/detsh: user/bjob/detsh.c user/bjob/bjob.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) $< -o $@

# detsh and the preloads run in (or as) the build's programs (make, cc,
# sh), which are not sanitized: never built with EXTRA_CFLAGS.
$(B)/lib/libdetclock.so: user/bjob/detclock.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) -shared $< -o $@

$(B)/lib/libdetdrv.so: user/bjob/detdrv.c user/bjob/bjob.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_BASE) -shared $< -o $@ -ldl

# detd: the node daemon (net/), no kern runtime in it.
$(B)/bin/detd: net/detd.c $(NET_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $< -o $@ $(NET_OBJS) $(LIBS)

# libFuzzer on the wire parsers (net/fuzz_proto.c); FUZZ_SECONDS each.
FUZZ_SECONDS ?= 120
$(B)/fuzz/fuzz_proto: net/fuzz_proto.c $(NET_SRCS) net/net.h
	@mkdir -p $(dir $@)
	clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Inet \
		$< $(NET_SRCS) -o $@ $(LIBS)

fuzz: $(B)/fuzz/fuzz_proto
	@mkdir -p $(B)/fuzz/corpus
	$(B)/fuzz/fuzz_proto -max_total_time=$(FUZZ_SECONDS) \
		-max_len=65536 $(B)/fuzz/corpus

$(B)/apps/%_pthread: user/apps/%_pthread.c $(wildcard user/apps/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -pthread $< -o $@ -lm

$(B)/apps/%: user/apps/%.c $(B)/lib/libdet.a $(wildcard user/apps/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDNOW) $< -o $@ $(B)/lib/libdet.a $(LIBS) -lm

# The build merge's unit tests link its objects too.
$(B)/tests/check_bjob: tests/check_bjob.c tests/testutil.h $(BJOB_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests $< -o $@ $(BJOB_OBJS) $(LIBS) $(CHECK_LIBS) -lm

$(B)/tests/%: tests/%.c tests/testutil.h $(B)/lib/libdet.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDNOW) -Itests $< -o $@ $(B)/lib/libdet.a $(LIBS) \
		$(CHECK_LIBS) -lm

$(B)/bench/netbench: papers/eval/netbench.c $(B)/lib/libdet.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDNOW) $< -o $@ $(B)/lib/libdet.a $(LIBS)

# The program the remote-space tests run (tests/net.sh); every function
# checks a stack canary (fn restored in a proxy from a node's checkpoint
# must pass them).
$(B)/tests/net_prog: tests/net_prog.c $(B)/lib/libdet.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fstack-protector-all $(LDNOW) $< -o $@ \
		$(B)/lib/libdet.a $(LIBS)

# A relay that alters one frame on the way (tests/net.sh).
$(B)/tests/net_relay: tests/net_relay.c $(NET_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $< -o $@ $(NET_OBJS) $(LIBS)

$(B)/bench/bench: papers/eval/bench.c $(B)/lib/libdet.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDNOW) $< -o $@ $(B)/lib/libdet.a $(LIBS)

demo: deps
	@$(MAKE) --no-print-directory all
	@sh user/apps/demo.sh $(B)

test: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory lint
	@sh tests/run.sh $(B)

check: test

# Same tests, instrumented.  Separate build dir so objects never mix.
sanitize: deps
	@$(MAKE) --no-print-directory B=build-san OPT=-O1 \
	    EXTRA_CFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
	    LDFLAGS=-fsanitize=address,undefined all
	@DET_SANITIZE=1 sh tests/run.sh build-san

bench: deps
	@$(MAKE) --no-print-directory all $(B)/bench/bench $(B)/bench/netbench
	@sh papers/eval/bench.sh $(B)
	@sh papers/eval/netbench.sh $(B)
	@BUILDS_OUT=papers/eval/RESULTS.md sh papers/eval/builds.sh $(B) bench

# Determinator's workloads, det vs pthreads: papers/eval/RESULTS.md
# (section "Evaluation") and plots.  About ten minutes.
eval: deps
	@$(MAKE) --no-print-directory all
	@sh papers/eval/eval.sh $(B)

# detrun --build on Debian source packages: papers/eval/BUILDS.md.
eval-builds: deps
	@$(MAKE) --no-print-directory all
	@sh papers/eval/builds.sh $(B) eval

bench-builds: deps
	@$(MAKE) --no-print-directory all
	@sh papers/eval/builds.sh $(B) bench

lint:
	@sh tests/lint.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include \
	    $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 644 $(B)/lib/libdet.a $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(B)/lib/libdet.so $(DESTDIR)$(PREFIX)/lib/libdet.so.0
	ln -sf libdet.so.0 $(DESTDIR)$(PREFIX)/lib/libdet.so
	install -m 644 user/include/det.h $(DESTDIR)$(PREFIX)/include/
	install -m 755 $(B)/bin/detrun $(DESTDIR)$(PREFIX)/bin/
	install -m 755 $(B)/bin/detd $(DESTDIR)$(PREFIX)/bin/
	install -m 755 $(B)/bin/detsh $(DESTDIR)$(PREFIX)/bin/
	install -m 755 $(B)/lib/libdetclock.so $(B)/lib/libdetdrv.so \
	    $(DESTDIR)$(PREFIX)/lib/
	install -m 644 user/man/detrun.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	sed -e 's|@PREFIX@|$(PREFIX)|;s|@LIBDIR@|$(PREFIX)/lib|' \
	    -e 's|@INCDIR@|$(PREFIX)/include|;s|@VERSION@|$(VERSION)|' \
	    user/libdet.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/libdet.pc

clean:
	rm -rf build build-san
