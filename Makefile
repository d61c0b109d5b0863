# Sealbox — build, run and test.
#
#   make run     install missing dependencies, build, start sealboxd on ./var
#   make test    install missing dependencies, build, run unit + end-to-end tests
#   make asan    the same tests under AddressSanitizer + UndefinedBehaviorSanitizer
#   make fuzz    build the libFuzzer targets (clang)
#
# Source layout mirrors DESIGN.md: every src/<layer>/*.c goes into one static library;
# src/cmd/ holds the two programs (sealbox*.c and cli.c make the admin CLI). New
# files are picked up without editing this file.

CC       ?= cc
O        ?= build
SQLDIR   := build/deps/sqlite3mc
PKGS     := libevent libevent_openssl libevent_pthreads libsodium libzstd openssl zlib libpcre2-8 libcurl

OPT      ?= -O2
CFLAGS   := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter \
            -g $(OPT) -pthread -Isrc -I$(SQLDIR) $(EXTRA_CFLAGS)
LDLIBS    = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread -ldl -lm
LDFLAGS  := $(EXTRA_LDFLAGS)

# The amalgamation is compiled with its own flags (it does not build with -Werror)
# and once only: sanitizer builds link this same object (an ASan build of it takes
# six minutes here and tests nothing of ours).
SQLITE_FLAGS := -O2 -DSQLITE_THREADSAFE=1 -DCODEC_TYPE=CODEC_TYPE_CHACHA20 \
  -DSQLITE_ENABLE_FTS5 -DSQLITE_TEMP_STORE=3 -DSQLITE_DQS=0 \
  -DSQLITE_DEFAULT_FOREIGN_KEYS=1 -DSQLITE_SECURE_DELETE -DSQLITE_OMIT_LOAD_EXTENSION \
  -DSQLITE_USE_URI=0 -DSQLITE_DEFAULT_MEMSTATUS=0 -DSQLITE_OMIT_DEPRECATED \
  -DSQLITE_DEFAULT_PCACHE_INITSZ=0 -DSQLITE_DEFAULT_LOOKASIDE=512,32
# Every session holds its own connection: no up-front page-cache block and a small
# lookaside cut ~75 KiB per logged-in session (241 -> 164 KiB measured here). An IDLE
# session closes its connection altogether (imap_session.c): 128 -> 21 KiB per IDLE
# TLS connection, 1,000 connections.
SQLITE_OBJ := $(SQLDIR)/sqlite3.o
# The object is rebuilt when these flags change (the stamp's name is their hash).
SQLITE_STAMP := $(SQLDIR)/flags-$(shell echo '$(SQLITE_FLAGS)' | md5sum | cut -c1-12)

LIB_SRC  := $(sort $(filter-out src/cmd/%,$(wildcard src/*/*.c)))
LIB_OBJ  := $(LIB_SRC:%.c=$(O)/obj/%.o)
LIB      := $(O)/libsealbox.a
BINS     := $(O)/sealboxd $(O)/sealbox
UNIT_SRC := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(O)/tests/%)

.PHONY: all deps test-deps run test unit e2e asan fuzz clean distclean bench
all: $(BINS)

deps:
	@scripts/deps.sh build
test-deps:
	@scripts/deps.sh test

$(SQLDIR)/sqlite3.c $(SQLDIR)/sqlite3.h:
	@scripts/deps.sh build

$(SQLITE_STAMP): | $(SQLDIR)/sqlite3.c
	@rm -f $(SQLDIR)/flags-*
	@touch $@

$(SQLITE_OBJ): $(SQLDIR)/sqlite3.c $(SQLITE_STAMP)
	@echo "CC sqlite3mc (about a minute, once)"
	@$(CC) $(SQLITE_FLAGS) -c -o $@ $<

$(O)/obj/%.o: %.c $(SQLDIR)/sqlite3.h
	@mkdir -p $(dir $@)
	@echo "CC $<"
	@$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

$(LIB): $(LIB_OBJ)
	@rm -f $@
	@ar rcs $@ $^

$(O)/sealboxd: $(O)/obj/src/cmd/sealboxd.o $(LIB) $(SQLITE_OBJ)
	@echo "LD $@"
	@$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The admin CLI: sealbox.c (commands and dispatch), cli.c (shared helpers) and
# one sealbox_<command>.c per larger command.
CLI_SRC  := src/cmd/sealbox.c src/cmd/cli.c $(sort $(wildcard src/cmd/sealbox_*.c))
$(O)/sealbox: $(CLI_SRC:%.c=$(O)/obj/%.o) $(LIB) $(SQLITE_OBJ)
	@echo "LD $@"
	@$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# tests/unit/testutil.c: helpers shared by every test program.
$(O)/tests/%: $(O)/obj/tests/unit/%.o $(O)/obj/tests/unit/testutil.o $(LIB) $(SQLITE_OBJ)
	@mkdir -p $(dir $@)
	@echo "LD $@"
	@$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcmocka

# Recursive: LDLIBS comes from pkg-config, which needs the packages deps installs.
run: deps
	@$(MAKE) --no-print-directory all
	@mkdir -p var
	$(O)/sealboxd -d var

unit: $(UNIT_BIN)
e2e: all

# One closing line for CI: tests/run sums cmocka and pytest into "N passed, N failed".
test: test-deps
	@$(MAKE) --no-print-directory all unit
	@O=$(O) tests/run

asan: test-deps
	@$(MAKE) --no-print-directory O=build-asan OPT=-O1 \
	  EXTRA_CFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
	  EXTRA_LDFLAGS="-fsanitize=address,undefined" all unit
	@O=build-asan ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 tests/run

FUZZ_SRC := $(wildcard fuzz/fuzz_*.c)
fuzz: test-deps $(SQLITE_OBJ)
	@$(MAKE) --no-print-directory O=build-fuzz CC=clang OPT=-O1 \
	  EXTRA_CFLAGS="-fsanitize=fuzzer-no-link,address,undefined" build-fuzz/libsealbox.a
	@mkdir -p build-fuzz/fuzz
	@for f in $(FUZZ_SRC); do n=$$(basename $$f .c); echo "LD build-fuzz/fuzz/$$n"; \
	  clang -std=c11 -D_GNU_SOURCE -g -O1 -Isrc -I$(SQLDIR) -fsanitize=fuzzer,address,undefined \
	  -o build-fuzz/fuzz/$$n $$f build-fuzz/libsealbox.a $(SQLITE_OBJ) $(LDLIBS) || exit 1; done

# Sealbox vs Dovecot vs Dovecot+mail_crypt in one run (bench/README.md). Runs as root:
# it installs dovecot-imapd if missing and starts private instances on loopback.
.PHONY: bench-full
# build-plain: the same code with unkeyed (plain SQLite) files, for the ChaCha20
# overhead rows only (src/crypto/dbkey.c; it refuses to run outside bench/run).
PLAIN_BUILD = $(MAKE) --no-print-directory O=build-plain EXTRA_CFLAGS=-DSEALBOX_BENCH_UNENCRYPTED all
bench: all
	@$(PLAIN_BUILD)
	@bench/run --build $(O) --plain-build build-plain
bench-full: all
	@$(PLAIN_BUILD)
	@bench/run --full --build $(O) --plain-build build-plain
# SMTP delivery: Sealbox vs Postfix -> Dovecot LMTP in one run (bench/README.md, "Delivery").
.PHONY: bench-delivery
bench-delivery: all
	@bench/delivery.py --build $(O)
# SEARCH/SORT/THREAD on one large mailbox: Sealbox vs Dovecot (bench/README.md, "Search").
# bench-search: 20,000 messages (a few minutes); bench-search-full: 100,000.
.PHONY: bench-search bench-search-full
bench-search: all
	@bench/search.py --quick --build $(O)
bench-search-full: all
	@bench/search.py --build $(O)

clean:
	rm -rf $(O) build-asan build-fuzz build-plain
distclean:
	rm -rf build build-asan build-fuzz

# Header dependencies of every object: library, programs and tests.
-include $(wildcard $(O)/obj/src/*/*.d $(O)/obj/tests/unit/*.d)
