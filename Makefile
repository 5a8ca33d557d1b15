# clique-boot -- one top-level Makefile (shared/STYLE.md 17)
VERSION := 0.1.0
PREFIX ?= /usr
DESTDIR ?=
SBINDIR ?= $(PREFIX)/sbin
PKG_CONFIG ?= pkg-config
CC ?= cc
BUILD ?= build

PKGS := libcurl jansson libsodium libmnl
CFLAGS ?= -O2 -g
# override: also when CFLAGS comes from the command line (the sanitizer builds below)
override CFLAGS += -std=gnu11 -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	  -Wcast-qual -MMD -MP
override CPPFLAGS += -D_GNU_SOURCE -DCLIQUE_VERSION='"$(VERSION)"'
ifeq ($(STATIC),1)
LDFLAGS += -static
LDLIBS += $(shell $(PKG_CONFIG) --static --libs $(PKGS))
else
LDLIBS += $(shell $(PKG_CONFIG) --libs $(PKGS))
endif
override CPPFLAGS += $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)

ifeq ($(V),1)
Q :=
E := @:
else
Q := @
E := @echo
endif

SRCS := $(wildcard bootstrap/*.c metadata/*.c)
LIB_SRCS := $(filter-out bootstrap/main.c,$(SRCS))
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o)
UNIT_SRCS := $(wildcard tests/unit/test-*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
TOOL_SRCS := $(wildcard tests/tools/*.c)
TOOL_BINS := $(TOOL_SRCS:tests/tools/%.c=$(BUILD)/tools/%)

# A unit test may link fakes in place of library objects: tests/unit/test-x.mk sets
# test-x_FAKES := tests/fakes/http-fake.c (linked before the archive, so they win).
-include $(wildcard tests/unit/*.mk)

all: $(BUILD)/clique-boot
.PHONY: all

$(BUILD)/%.o: %.c
	$(E) "  CC      $<"
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(BUILD)/libclique.a: $(LIB_OBJS)
	$(E) "  AR      $@"
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/clique-boot: $(BUILD)/bootstrap/main.o $(BUILD)/libclique.a
	$(E) "  LD      $@"
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

.SECONDEXPANSION:
$(BUILD)/tests/test-%: tests/unit/test-%.c $$(patsubst %.c,$(BUILD)/%.o,$$(test-$$*_FAKES)) \
		$(BUILD)/libclique.a
	$(E) "  LD      $@"
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tools/%: tests/tools/%.c $(BUILD)/libclique.a
	$(E) "  LD      $@"
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

unit-bins: $(UNIT_BINS) $(TOOL_BINS)
.PHONY: unit-bins

# Installs the Debian packages the build and the tests need (idempotent; root on Debian 12).
deps:
	$(Q)sh tests/install-deps.sh
.PHONY: deps

SAN_CFLAGS := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
	      -fno-sanitize-recover=all
SAN_MAKE := $(MAKE) --no-print-directory BUILD=build-asan CFLAGS="$(SAN_CFLAGS)" \
	    LDFLAGS="-fsanitize=address,undefined"

# Every test: unit (ASan+UBSan), fixtures, e2e in namespaces against radosgw + wireguard-go.
check: deps
	$(Q)$(SAN_MAKE) build-asan/clique-boot unit-bins
	$(Q)$(MAKE) --no-print-directory all
	$(Q)BUILD=build-asan sh tests/check.sh
.PHONY: check

unit:
	$(Q)$(SAN_MAKE) unit-bins
	$(Q)BUILD=build-asan SUITES=unit sh tests/check.sh
.PHONY: unit

# The main job on a local default: a 16-node mesh over five (fake) clouds on this machine.
demo: deps all
	$(Q)bash tests/e2e/demo.sh
.PHONY: demo

# libFuzzer (clang) over every parser, FUZZ_SECONDS each; make check runs a short pass.
fuzz: deps
	$(Q)bash tests/fuzz/run.sh
.PHONY: fuzz

# Benchmarks of shared/DESIGN.md 9, as ratios against references measured in the same run.
bench: deps all
	$(Q)bash tests/bench/run.sh
.PHONY: bench

# The fleet for ROUNDS rounds of join, rotate, leave, outage under the packaged timer
# (tests/e2e/test-soak.sh; make check runs one round).
ROUNDS ?= 20
soak: deps all
	$(Q)ROUNDS=$(ROUNDS) bash tests/e2e/test-soak.sh
.PHONY: soak

# A binary without dynamic dependencies (build-static/clique-boot).
static: deps
	$(Q)bash packaging/static/build.sh
.PHONY: static

# The Debian package (build-deb/clique-boot_<version>_amd64.deb).
deb: deps
	$(Q)bash packaging/deb/build.sh
.PHONY: deb

install: $(BUILD)/clique-boot
	install -D -m 0755 $(BUILD)/clique-boot $(DESTDIR)$(SBINDIR)/clique-boot
.PHONY: install

format:
	$(Q)clang-format -i $(wildcard bootstrap/*.[ch] metadata/*.[ch] tests/*/*.[ch])
.PHONY: format

clean:
	rm -rf build build-*
.PHONY: clean

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
