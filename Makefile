# dinamo: top-level build. Plain make, no generated build system.
#
#   make            build the library, the `dinamo` tool, services and benchmarks
#   make test       build and run every Criterion suite (SAN=1: ASan + UBSan)
#   make test-deploy  the compose cluster for real on a Docker engine (scripts/test-deploy.sh)
#   make bench      build and run the benchmark programs
#   make run        the main job: the local cluster on one synthetic dataset
#   make deps       install missing Debian packages (quiet when all is there)
#   make fuzz       build the libFuzzer targets (clang) into build-fuzz/; fuzz/run.sh
#                   [NAME|all] [SECONDS] runs them (fuzz/README.md)
#   make PORTABLE=1 binaries for any x86-64 CPU, into build-portable/ (the image's
#                   build): baseline x86-64 code, the numeric kernels picking their
#                   AVX-512 / AVX2 / SSE2 variant at run time (lib/core/nn.c)
#
# Every lib/LAYER/*.c goes into build/libdinamo_LAYER.a (layers below); every tests/test_*.c is one Criterion
# suite; every bench/bench_*.c is one benchmark program; every services/NAME/ is
# one service binary. Adding a module means adding files, not editing this file.

SAN ?= 0
PORTABLE ?= 0
ARCH ?= -march=native
BUILD := build
ifeq ($(PORTABLE),1)
ARCH := -march=x86-64 -mtune=generic
BUILD := build-portable
endif
ifeq ($(SAN),1)
BUILD := $(BUILD:build%=build-san%)
endif

CC ?= cc
# V=1 shows the full commands.
ifeq ($(V),1)
Q :=
else
Q := @
endif
PKGS := libzmq libprotobuf-c lmdb libxsmm openblas criterion zlib liblzma liblz4 libzstd plplot cairo \
	cairo-svg libpng libsodium libmicrohttpd
WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wno-unused-parameter
CFLAGS := -std=c11 $(WARN) -O2 -g $(ARCH) -D_GNU_SOURCE
LDLIBS := -lm -lpthread
ifeq ($(SAN),1)
CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
# The numeric kernels (SAN_KERNELS) go into the library without sanitizers:
# instrumented (ASan or UBSan alike) their vector loops ran DINAMO-ML training
# ~3x slower than without, the services' online training with them, and the
# pipeline suite outlasted its timeouts; uninstrumented, SAN costs training
# ~1.15x. Everything around them (mlmodel.c, which sizes and carves their
# buffers, and every caller) stays instrumented, and the suites that test the
# kernels (SAN_KERNEL_TESTS) link a fully instrumented copy ahead of the
# library, so the kernels' own accesses are still checked there.
SAN_KERNELS := lib/core/nn.c
SAN_KERNEL_TESTS := test_nn test_mlmodel test_dinamo_ml
endif

# Files that carry their own CPU variants, chosen at run time (lib/core/nn.c:
# x86-64-v4, v3 and baseline instances of every kernel): compiled for baseline
# x86-64 whatever ARCH says (their instances raise the level themselves), so every
# build, native or portable, runs the same kernel code. -fno-math-errno lets
# their square-root loops vectorise (nn.c checks it is there).
MULTIARCH_SRC := lib/core/nn.c
MULTIARCH_CFLAGS := -march=x86-64 -mtune=generic -fno-math-errno

# Files whose libm calls nobody checks errno after: -fno-math-errno lets their
# square-root loops vectorise (IEEE sqrt is correctly rounded, so the bits are
# the same); each file checks the flag is there (#error).
NO_MATH_ERRNO_SRC := lib/core/dinamo_s.c

# pkg-config is only consulted once deps has run; the ':=' with shell would run
# before deps could install anything, so these are recursive ('=').
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs libzmq libprotobuf-c lmdb libxsmm openblas zlib liblzma liblz4 libzstd \
	plplot cairo cairo-svg libpng libsodium 2>/dev/null)
CRIT_LIBS = $(shell pkg-config --libs criterion 2>/dev/null)

PROTOS := $(wildcard proto/*.proto)
PROTO_C := $(PROTOS:proto/%.proto=$(BUILD)/gen/%.pb-c.c)
PROTO_O := $(PROTO_C:.c=.o)

# The library in four layers, lowest first; each is one folder under lib/ and
# one archive. A layer's files are compiled with the include paths of the
# layers it may use and no others, so an include pointing up a layer does not
# compile (scripts/check-layers.sh, run by `make test`, says which and why):
#   core  numerics and base utilities          uses nothing else
#   io    file formats, inputs, configuration  uses core
#   pipe  the pipeline's plumbing (messages, LMDB, ZeroMQ, services)  uses core, io
#   fig   figures (PLplot, cairo)              uses core, io
LAYERS := core io pipe fig
LAYER_USES_core := core
LAYER_USES_io := core io
LAYER_USES_pipe := core io pipe
LAYER_USES_fig := core io fig
layer_inc = $(foreach l,$(LAYER_USES_$(1)),-Ilib/$(l))
ALL_INC := $(foreach l,$(LAYERS),-Ilib/$(l)) -I$(BUILD)/gen
# Link order: higher layers first.
LIB_A := $(BUILD)/libdinamo_pipe.a $(BUILD)/libdinamo_fig.a $(BUILD)/libdinamo_io.a \
	$(BUILD)/libdinamo_core.a
$(foreach l,$(LAYERS),$(eval LIB_OBJ_$(l) := $(patsubst %.c,$(BUILD)/%.o,$(wildcard lib/$(l)/*.c))))
LIB_OBJ_pipe += $(PROTO_O)

TOOL_SRC := $(wildcard tools/*.c)
TOOL_BIN := $(BUILD)/dinamo

TEST_SRC := $(wildcard tests/test_*.c)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)

BENCH_SRC := $(wildcard bench/bench_*.c)
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

SERVICES := $(sort $(notdir $(patsubst %/,%,$(dir $(wildcard services/*/*.c)))))
SERVICE_BIN := $(SERVICES:%=$(BUILD)/services/%)

.PHONY: all deps test test-deploy bench run clean fixtures jsroot web fuzz fuzz-deps fuzz-seeds
.SECONDARY:

all: deps $(TOOL_BIN) $(SERVICE_BIN) $(BENCH_BIN)

deps:
	@scripts/deps.sh

$(BUILD)/gen/%.pb-c.c $(BUILD)/gen/%.pb-c.h: proto/%.proto | deps
	@mkdir -p $(BUILD)/gen
	@echo "PROTOC $<"
	$(Q)protoc-c --proto_path=proto --c_out=$(BUILD)/gen $<

$(BUILD)/gen/%.pb-c.o: $(BUILD)/gen/%.pb-c.c
	@echo "CC $<"
	$(Q)$(CC) $(CFLAGS) -Wno-error -I$(BUILD)/gen $(PKG_CFLAGS) -c -o $@ $<

# A library file sees only its own layer and the layers below it.
define LAYER_RULE
$(BUILD)/lib/$(1)/%.o: lib/$(1)/%.c | deps $(PROTO_C)
	@mkdir -p $$(dir $$@)
	@echo "CC $$<"
	$$(Q)$$(CC) $$(CFLAGS) $(call layer_inc,$(1)) $(if $(filter pipe,$(1)),-I$$(BUILD)/gen) $$(PKG_CFLAGS) -MMD -MP -c -o $$@ $$<

$(BUILD)/libdinamo_$(1).a: $$(LIB_OBJ_$(1))
	@rm -f $$@
	$$(Q)ar rcs $$@ $$^
endef
$(foreach l,$(LAYERS),$(eval $(call LAYER_RULE,$(l))))

# SAN=1: the kernels in the library without sanitizers; an instrumented copy
# of each for the suites that test them (linked before the library, so the
# archive's member is never pulled in).
SAN_KERNEL_OBJ := $(SAN_KERNELS:lib/%.c=$(BUILD)/san-kernels/%.o)
$(SAN_KERNELS:lib/%.c=$(BUILD)/lib/%.o): CFLAGS := $(filter-out -fsanitize=%,$(CFLAGS))
$(BUILD)/san-kernels/%.o: lib/%.c | deps
	@mkdir -p $(dir $@)
	@echo "CC $< (instrumented)"
	$(Q)$(CC) $(CFLAGS) $(call layer_inc,$(firstword $(subst /, ,$*))) $(PKG_CFLAGS) -MMD -MP \
		-c -o $@ $<
define SAN_KERNEL_TEST_RULE
$(BUILD)/tests/$(1): $(BUILD)/tests/$(1).o $(SAN_KERNEL_OBJ) $(LIB_A)
	@echo "LD $$@"
	$$(Q)$$(CC) $$(LDFLAGS) -o $$@ $$^ $$(CRIT_LIBS) $$(PKG_LIBS) $$(LDLIBS)
endef
$(foreach t,$(SAN_KERNEL_TESTS),$(eval $(call SAN_KERNEL_TEST_RULE,$(t))))

# After the SAN assignments above, so that this appends to them (a later -march
# replaces an earlier one, -march=native included).
$(MULTIARCH_SRC:lib/%.c=$(BUILD)/lib/%.o) $(MULTIARCH_SRC:lib/%.c=$(BUILD)/san-kernels/%.o): \
	CFLAGS += $(MULTIARCH_CFLAGS)

$(NO_MATH_ERRNO_SRC:lib/%.c=$(BUILD)/lib/%.o): CFLAGS += -fno-math-errno
$(NO_MATH_ERRNO_SRC:%.c=build-fuzz/obj/%.o): FUZZ_CFLAGS += -fno-math-errno

# Tools, tests and benchmarks see every layer.
$(BUILD)/%.o: %.c | deps $(PROTO_C)
	@mkdir -p $(dir $@)
	@echo "CC $<"
	$(Q)$(CC) $(CFLAGS) $(ALL_INC) $(PKG_CFLAGS) -MMD -MP -c -o $@ $<

$(TOOL_BIN): $(TOOL_SRC:%.c=$(BUILD)/%.o) $(LIB_A)
	@echo "LD $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(LIB_A)
	@echo "LD $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(CRIT_LIBS) $(PKG_LIBS) $(LDLIBS)

# The suite of a service's pure file links that file (and sees its folder).
$(BUILD)/tests/test_keycodec.o: CFLAGS += -Iservices/trainer
$(BUILD)/tests/test_keycodec: $(BUILD)/tests/test_keycodec.o $(BUILD)/obj/services/trainer/keycodec.o \
	$(LIB_A)
	@echo "LD $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(CRIT_LIBS) $(PKG_LIBS) $(LDLIBS)

$(BUILD)/tests/test_dash_model.o: CFLAGS += -Iservices/dashboard
$(BUILD)/tests/test_dash_model: $(BUILD)/tests/test_dash_model.o \
	$(BUILD)/obj/services/dashboard/model.o $(BUILD)/obj/services/dashboard/view.o \
	$(BUILD)/obj/services/dashboard/detail.o $(LIB_A)
	@echo "LD $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(CRIT_LIBS) $(PKG_LIBS) $(LDLIBS)

$(BUILD)/tests/test_dashboard.o: CFLAGS += -Iservices/dashboard
$(BUILD)/tests/test_dashboard: $(BUILD)/tests/test_dashboard.o \
	$(BUILD)/obj/services/dashboard/model.o $(BUILD)/obj/services/dashboard/detail.o $(LIB_A)
	@echo "LD $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(CRIT_LIBS) $(PKG_LIBS) $(LDLIBS)

$(BUILD)/tests/test_ev_book.o: CFLAGS += -Iservices/evaluator
$(BUILD)/tests/test_ev_book: $(BUILD)/tests/test_ev_book.o \
	$(BUILD)/obj/services/evaluator/ingest.o $(BUILD)/obj/services/evaluator/judge.o \
	$(BUILD)/obj/services/evaluator/report.o $(LIB_A)
	@echo "LD $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(CRIT_LIBS) $(PKG_LIBS) $(LDLIBS)

$(BUILD)/tests/test_ledger.o: CFLAGS += -Iservices/feed
$(BUILD)/tests/test_ledger: $(BUILD)/tests/test_ledger.o $(BUILD)/obj/services/feed/ledger.o $(LIB_A)
	@echo "LD $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(CRIT_LIBS) $(PKG_LIBS) $(LDLIBS)

$(BUILD)/tests/test_session.o: CFLAGS += -Iservices/dashboard
$(BUILD)/tests/test_session: $(BUILD)/tests/test_session.o $(BUILD)/obj/services/dashboard/session.o \
	$(LIB_A)
	@echo "LD $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(CRIT_LIBS) $(PKG_LIBS) $(LDLIBS)

# The progress display's pure parts (tools/progress_model.c) have a suite.
$(BUILD)/tests/test_progress.o: CFLAGS += -Itools
$(BUILD)/tests/test_progress: $(BUILD)/tests/test_progress.o $(BUILD)/tools/progress_model.o $(LIB_A)
	@echo "LD $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(CRIT_LIBS) $(PKG_LIBS) $(LDLIBS)

$(BUILD)/bench/%: $(BUILD)/bench/%.o $(LIB_A)
	@echo "LD $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(LDLIBS)

# The dashboard's bench runs its model, detail store and web server in process.
DASH_BENCH_OBJ := $(patsubst %,$(BUILD)/obj/services/dashboard/%.o,model view detail http session)
$(BUILD)/bench/bench_dashboard.o: CFLAGS += -Iservices/dashboard
$(BUILD)/bench/bench_dashboard: $(BUILD)/bench/bench_dashboard.o $(DASH_BENCH_OBJ) $(LIB_A)
	@echo "LD $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(shell pkg-config --libs libmicrohttpd 2>/dev/null) \
		$(LDLIBS)

# Service objects live under $(BUILD)/obj/ so that a service's object
# directory never collides with its binary $(BUILD)/services/NAME.
$(BUILD)/obj/%.o: %.c | deps $(PROTO_C)
	@mkdir -p $(dir $@)
	@echo "CC $<"
	$(Q)$(CC) $(CFLAGS) $(ALL_INC) $(PKG_CFLAGS) -MMD -MP -c -o $@ $<

define SERVICE_RULE
$(BUILD)/services/$(1): $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard services/$(1)/*.c)) $(LIB_A)
	@mkdir -p $$(dir $$@)
	@echo "LD $$@"
	$$(Q)$$(CC) $$(LDFLAGS) -o $$@ $$^ $$(PKG_LIBS) $$(LDLIBS)
endef
$(foreach s,$(SERVICES),$(eval $(call SERVICE_RULE,$(s))))
# Only the dashboard serves HTTP.
$(BUILD)/services/dashboard: PKG_LIBS += $(shell pkg-config --libs libmicrohttpd 2>/dev/null)

# JSROOT, the independent ROOT reader the ROOT suites and bench_root compare
# with: installed from the npm registry at the version tests/js/package-lock.json
# pins (tests/js/.npmrc: no install scripts, no registry address in the lock).
JSROOT := tests/js/node_modules/jsroot/package.json
jsroot: $(JSROOT)
$(JSROOT): tests/js/package.json tests/js/package-lock.json
	@scripts/deps.sh test
	@echo "NPM tests/js (JSROOT)"
	$(Q)cd tests/js && npm ci --loglevel=error
	@touch $@

# The dashboard's browser side: uPlot (served from web/node_modules/uplot/dist/)
# and playwright-core (drives Debian's chromium in the dashboard tests), pinned
# by web/package-lock.json (web/.npmrc: no install scripts, no registry address).
WEB := web/node_modules/uplot/package.json
web: $(WEB)
$(WEB): web/package.json web/package-lock.json
	@scripts/deps.sh web
	@echo "NPM web (uPlot, playwright-core)"
	$(Q)cd web && npm ci --loglevel=error
	@touch $@

# The fuzz targets' names are set here, before `test` names them as
# prerequisites (make expands a rule's prerequisites where it reads the rule).
FUZZ_LAYERS := core io pipe
FUZZ_SRC := $(wildcard fuzz/fuzz_*.c)
FUZZ_BIN := $(FUZZ_SRC:fuzz/%.c=build-fuzz/%)
FUZZ_LIB_SRC := $(foreach l,$(FUZZ_LAYERS),$(wildcard lib/$(l)/*.c))
FUZZ_LIB_OBJ := $(FUZZ_LIB_SRC:%.c=build-fuzz/obj/%.o) $(PROTO_C:$(BUILD)/gen/%.c=build-fuzz/obj/gen/%.o)
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer \
	-fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_INC := $(foreach l,$(FUZZ_LAYERS),-Ilib/$(l)) -I$(BUILD)/gen

# Suites run one after another (each runs its own tests in parallel); the
# summary line totals Criterion's per-suite synthesis lines. Before them,
# every fuzz target runs once over each of its committed seeds (fuzz-seeds).
test: deps $(TEST_BIN) $(TOOL_BIN) $(SERVICE_BIN) $(JSROOT) $(WEB) $(FUZZ_BIN)
	@scripts/check-layers.sh
	@fuzz/run-seeds.sh $(FUZZ_BIN:build-fuzz/%=%)
	@DINAMO_BUILD=$(BUILD) scripts/run-tests.sh $(TEST_BIN)

# The shipped docker-compose cluster, built from a clean tree (git archive)
# and run on a Docker engine (installed and started when missing).
test-deploy:
	@scripts/test-deploy.sh

bench: all
	@DINAMO_BUILD=$(BUILD) scripts/run-bench.sh $(BENCH_BIN)

run: all $(WEB)
	@DINAMO_BUILD=$(BUILD) scripts/run-main.sh

# Regenerates the PyTorch fixtures under tests/fixtures (needs python3-torch;
# the tests themselves never do).
fixtures:
	/usr/bin/python3 tools/make_fixtures.py tests/fixtures

# libFuzzer targets (clang, -fsanitize=fuzzer,address,undefined): every
# fuzz/fuzz_NAME.c is one target build-fuzz/fuzz_NAME, linked with a copy of
# the library's core, io and pipe layers compiled by clang with the same
# sanitizers and coverage (build-fuzz/libdinamo_fuzz.a: each target pulls in
# only the files it exercises). fuzz/run.sh [NAME|all] [SECONDS] grows each
# corpus from fuzz/seeds/NAME/; `make fuzz-seeds` (run by `make test`) runs
# every target once over its committed seeds, so a known input that crashes
# again fails the build.
# The numeric kernels are GCC vector code (__builtin_shuffle) and parse
# nothing: compiled by cc, uninstrumented, as SAN=1 does (SAN_KERNELS).
build-fuzz/obj/lib/core/nn.o: lib/core/nn.c | fuzz-deps
	@mkdir -p $(dir $@)
	@echo "CC $< (uninstrumented)"
	$(Q)nice -n 10 $(CC) $(filter-out -Werror,$(CFLAGS)) $(MULTIARCH_CFLAGS) -Ilib/core -MMD -MP \
		-c -o $@ $<
fuzz: $(FUZZ_BIN)
fuzz-deps:
	@scripts/deps.sh fuzz
build-fuzz/obj/%.o: %.c | fuzz-deps $(PROTO_C)
	@mkdir -p $(dir $@)
	@echo "CLANG $<"
	$(Q)nice -n 10 clang $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link $(FUZZ_INC) $(PKG_CFLAGS) \
		-MMD -MP -c -o $@ $<
build-fuzz/obj/gen/%.o: $(BUILD)/gen/%.c | fuzz-deps
	@mkdir -p $(dir $@)
	@echo "CLANG $<"
	$(Q)nice -n 10 clang $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -I$(BUILD)/gen $(PKG_CFLAGS) \
		-c -o $@ $<
build-fuzz/libdinamo_fuzz.a: $(FUZZ_LIB_OBJ)
	@rm -f $@
	$(Q)ar rcs $@ $^
build-fuzz/fuzz_%: build-fuzz/obj/fuzz/fuzz_%.o build-fuzz/libdinamo_fuzz.a
	@echo "CLANG $@"
	$(Q)clang $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $(filter %.o,$^) $(filter %.a,$^) \
		$(PKG_LIBS) $(LDLIBS)
# A decoder that lives in a service (pure, in a file of its own) is linked
# into its target from there.
build-fuzz/obj/fuzz/fuzz_keystate.o: FUZZ_INC += -Iservices/trainer
build-fuzz/fuzz_keystate: build-fuzz/obj/services/trainer/keycodec.o
build-fuzz/obj/fuzz/fuzz_good.o: FUZZ_INC += -Iservices/scorer_ml
build-fuzz/fuzz_good: build-fuzz/obj/services/scorer_ml/good.o
build-fuzz/obj/fuzz/fuzz_cookie.o: FUZZ_INC += -Iservices/dashboard
build-fuzz/fuzz_cookie: build-fuzz/obj/services/dashboard/session.o
build-fuzz/obj/fuzz/fuzz_detail.o: FUZZ_INC += -Iservices/dashboard
build-fuzz/fuzz_detail: build-fuzz/obj/services/dashboard/detail.o \
	build-fuzz/obj/services/dashboard/model.o build-fuzz/obj/services/dashboard/view.o
fuzz-seeds: $(FUZZ_BIN)
	@fuzz/run-seeds.sh $(FUZZ_BIN:build-fuzz/%=%)

clean:
	rm -rf build build-san build-portable build-san-portable build-fuzz

-include $(shell find $(BUILD) build-fuzz/obj -name '*.d' 2>/dev/null)
