# dinamo: top-level build. Plain make, no generated build system.
#
#   make            build the library, the `dinamo` tool, services and benchmarks
#   make test       build and run every Criterion suite (SAN=1: ASan + UBSan)
#   make bench      build and run the benchmark programs
#   make run        the main job: the local cluster on one synthetic dataset
#   make deps       install missing Debian packages (quiet when all is there)
#
# Every lib/*.c goes into build/libdinamo.a; every tests/test_*.c is one Criterion
# suite; every bench/bench_*.c is one benchmark program; every services/NAME/ is
# one service binary. Adding a module means adding files, not editing this file.

SAN ?= 0
ARCH ?= -march=native
BUILD := build
ifeq ($(SAN),1)
BUILD := build-san
endif

CC ?= cc
# V=1 shows the full commands.
ifeq ($(V),1)
Q :=
else
Q := @
endif
PKGS := libzmq libprotobuf-c lmdb openblas criterion zlib plplot cairo cairo-svg libpng
WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wno-unused-parameter
CFLAGS := -std=c11 $(WARN) -O2 -g $(ARCH) -D_GNU_SOURCE -Ilib -I$(BUILD)/gen
LDLIBS := -lm -lpthread
ifeq ($(SAN),1)
CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif

# pkg-config is only consulted once deps has run; the ':=' with shell would run
# before deps could install anything, so these are recursive ('=').
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell pkg-config --libs libzmq libprotobuf-c lmdb openblas zlib plplot cairo cairo-svg libpng 2>/dev/null)
CRIT_LIBS = $(shell pkg-config --libs criterion 2>/dev/null)

PROTOS := $(wildcard proto/*.proto)
PROTO_C := $(PROTOS:proto/%.proto=$(BUILD)/gen/%.pb-c.c)
PROTO_O := $(PROTO_C:.c=.o)

LIB_SRC := $(wildcard lib/*.c)
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o) $(PROTO_O)
LIB_A := $(BUILD)/libdinamo.a

TOOL_SRC := $(wildcard tools/*.c)
TOOL_BIN := $(BUILD)/dinamo

TEST_SRC := $(wildcard tests/test_*.c)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)

BENCH_SRC := $(wildcard bench/bench_*.c)
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

SERVICES := $(notdir $(patsubst %/,%,$(dir $(wildcard services/*/*.c))))
SERVICE_BIN := $(SERVICES:%=$(BUILD)/services/%)

.PHONY: all deps test bench run clean fixtures
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
	$(Q)$(CC) $(CFLAGS) -Wno-error $(PKG_CFLAGS) -c -o $@ $<

$(BUILD)/%.o: %.c | deps $(PROTO_C)
	@mkdir -p $(dir $@)
	@echo "CC $<"
	$(Q)$(CC) $(CFLAGS) $(PKG_CFLAGS) -MMD -MP -c -o $@ $<

$(LIB_A): $(LIB_OBJ)
	@rm -f $@
	$(Q)ar rcs $@ $^

$(TOOL_BIN): $(TOOL_SRC:%.c=$(BUILD)/%.o) $(LIB_A)
	@echo "LD $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(LIB_A)
	@echo "LD $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(CRIT_LIBS) $(PKG_LIBS) $(LDLIBS)

$(BUILD)/bench/%: $(BUILD)/bench/%.o $(LIB_A)
	@echo "LD $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS) $(LDLIBS)

# Service objects live under $(BUILD)/obj/ so that a service's object
# directory never collides with its binary $(BUILD)/services/NAME.
$(BUILD)/obj/%.o: %.c | deps $(PROTO_C)
	@mkdir -p $(dir $@)
	@echo "CC $<"
	$(Q)$(CC) $(CFLAGS) $(PKG_CFLAGS) -MMD -MP -c -o $@ $<

define SERVICE_RULE
$(BUILD)/services/$(1): $(patsubst %.c,$(BUILD)/obj/%.o,$(wildcard services/$(1)/*.c)) $(LIB_A)
	@mkdir -p $$(dir $$@)
	@echo "LD $$@"
	$$(Q)$$(CC) $$(LDFLAGS) -o $$@ $$^ $$(PKG_LIBS) $$(LDLIBS)
endef
$(foreach s,$(SERVICES),$(eval $(call SERVICE_RULE,$(s))))

# Suites run one after another (each runs its own tests in parallel); the
# summary line totals Criterion's per-suite synthesis lines.
test: deps $(TEST_BIN) $(TOOL_BIN) $(SERVICE_BIN)
	@DINAMO_BUILD=$(BUILD) scripts/run-tests.sh $(TEST_BIN)

bench: all
	@DINAMO_BUILD=$(BUILD) scripts/run-bench.sh $(BENCH_BIN)

run: all
	@DINAMO_BUILD=$(BUILD) scripts/run-main.sh

# Regenerates the PyTorch fixtures under tests/fixtures (needs python3-torch;
# the tests themselves never do).
fixtures:
	/usr/bin/python3 tools/make_fixtures.py tests/fixtures

clean:
	rm -rf build build-san

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
