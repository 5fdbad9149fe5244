# Chat backend: FastCGI API programs, the WebSocket relay, and their tests.
#
#   make            build everything (release flavour, build/rel/)
#   make run        install what is missing, build, migrate, start the stack
#   make test       with sanitizers: the unit tests, then the stack's set-up
#                   and every integration test, on databases of its own
#                   (tests/run.sh)
#   make unit       build and run the unit tests only: no stack, no apt
#   make integration  the integration part of make test (SUITE=, TEST=)
#   make fuzz       libFuzzer over the input parsers (clang), FUZZ_SECONDS each
#   make stop | status | bench | lint | format | clean
#
# SANITIZE=address,undefined builds into build/san/ so both flavours can
# exist side by side; the stack records which one it runs.

SHELL       := /bin/bash
.DEFAULT_GOAL := all

CC          ?= gcc
SANITIZE    ?=
FLAVOUR     := $(if $(SANITIZE),san,rel)
BUILD       := build/$(FLAVOUR)
OBJ         := $(BUILD)/obj
BIN         := $(BUILD)/bin
LIBCHAT     := $(BUILD)/lib/libchat.a

PKGS        := libmariadb libmongoc-1.0 libbson-1.0 libcjson libcrypto hiredis libcurl
PKG_CFLAGS  := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS    := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CHECK_CFLAGS := $(shell pkg-config --cflags check 2>/dev/null)
CHECK_LIBS  := $(shell pkg-config --libs check 2>/dev/null)
CURL_LIBS   := $(shell pkg-config --libs libcurl 2>/dev/null)

WARN        := -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes \
               -Wmissing-prototypes -Wformat=2 -Wvla
CPPFLAGS    += -D_GNU_SOURCE -Ishared -MMD -MP
CFLAGS      ?= -O2 -g
CFLAGS      += -std=c11 $(WARN) -pthread $(PKG_CFLAGS)
LDFLAGS     += -pthread -Wl,--as-needed
LDLIBS      += $(PKG_LIBS) -lwslay -lfcgi

ifeq ($(CI),true)
CFLAGS      += -Werror
endif
ifneq ($(SANITIZE),)
CFLAGS      += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS     += -fsanitize=$(SANITIZE)
else
CPPFLAGS    += -D_FORTIFY_SOURCE=2
CFLAGS      += -fstack-protector-strong -fPIE
LDFLAGS     += -pie -Wl,-z,relro,-z,now
endif

# obj_of(sources): object paths for C sources
obj_of = $(patsubst %.c,$(OBJ)/%.o,$(1))

# program(name, sources, extra link flags): a binary in $(BIN) linked
# against libchat.a; fragments call it so no one edits this file to add one.
define program
$(BIN)/$(1): $(call obj_of,$(2)) $(LIBCHAT)
	@mkdir -p $$(@D)
	$$(CC) $$(LDFLAGS) -o $$@ $(call obj_of,$(2)) $(LIBCHAT) $(3) $$(LDLIBS)
PROGRAMS += $(BIN)/$(1)
endef

SHARED_SRC  := $(wildcard shared/*.c)
PROGRAMS    :=

include $(wildcard */build.mk)

$(LIBCHAT): $(call obj_of,$(SHARED_SRC))
	@mkdir -p $(@D)
	$(AR) rcs $@ $^

$(OBJ)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

.PHONY: all run test stop status bench lint format clean deps unit integration fuzz
all: $(LIBCHAT) $(PROGRAMS)

# The stack: deploy/dev/stack.sh does the work; make only hands it the
# flavour of binaries to run.
deps:
	@deploy/dev/deps.sh

run: deps
	@$(MAKE) --no-print-directory all
	@CHAT_BIN_DIR=$(CURDIR)/$(BIN) deploy/dev/stack.sh up

stop:
	@deploy/dev/stack.sh down

status:
	@deploy/dev/stack.sh status

# SUITE=name (and TEST=name) runs that one integration suite (test) only.
test: deps
	@$(MAKE) --no-print-directory SANITIZE=address,undefined all
	@tests/run.sh $(CURDIR)/build/san/bin $(SUITE) $(TEST)

# The unit tests need nothing but their binary: no packages, no servers.
unit:
	@$(MAKE) --no-print-directory SANITIZE=address,undefined build/san/bin/unit_tests
	@tests/run.sh --unit $(CURDIR)/build/san/bin

integration: deps
	@$(MAKE) --no-print-directory SANITIZE=address,undefined all
	@tests/run.sh --integration $(CURDIR)/build/san/bin $(SUITE) $(TEST)

bench: deps
	@$(MAKE) --no-print-directory all
	@CHAT_BIN_DIR=$(CURDIR)/$(BIN) deploy/dev/stack.sh up
	@bench/run.sh $(CURDIR)/$(BIN)

C_SOURCES = $(shell git ls-files '*.c' '*.h' 2>/dev/null)

LINT_FLAGS = -D_GNU_SOURCE -Ishared -Irelay -Ifcgi-api -Itests/support -Itests/fuzz -Ibench -I$(BUILD)/gen \
             -DSUITES_H='"unit_suites.h"' -DRUNNER_NAME='"unit"'

lint: $(BUILD)/gen/unit_suites.h
	cppcheck --quiet --error-exitcode=1 --std=c11 --enable=warning,portability,performance \
	    --inline-suppr --suppress=missingIncludeSystem $(LINT_FLAGS) \
	    $(filter %.c,$(C_SOURCES))
	clang-tidy --quiet $(filter %.c,$(C_SOURCES)) -- $(LINT_FLAGS) -std=c11 $(PKG_CFLAGS) \
	    $(CHECK_CFLAGS) 2>&1 | grep -v 'warnings\? generated' ; test $${PIPESTATUS[0]} -eq 0

format:
	clang-format -i $(C_SOURCES)

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)
