# Fuzz harnesses (tests/fuzz/README.md). Included by tests/build.mk.
#
# FUZZ_SRC goes into unit_tests, built by the usual compiler, where
# check_fuzz_corpus replays the committed corpus. `make fuzz` builds each
# harness a second time with clang, libFuzzer, ASan and UBSan into
# build/fuzz/ and runs it for FUZZ_SECONDS (tests/fuzz/run.sh); plain
# `make` never needs clang.

FUZZ_NAMES   := handshake proto jwt jwks pct b64url config api media
FUZZ_SRC     := $(patsubst %,tests/fuzz/fuzz_%.c,$(FUZZ_NAMES)) tests/fuzz/fuzz_util.c
FUZZ_SECONDS ?= 60
FUZZ_CC      ?= clang-14
FUZZ_OUT     := build/fuzz
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_CFLAGS  := -O1 -g -std=c11 $(WARN) -pthread $(PKG_CFLAGS) $(FUZZ_SAN)
# What the harnesses reach: the shared library and the two relay parsers.
FUZZ_LIB_SRC := $(SHARED_SRC) relay/handshake.c relay/proto.c

# check_media uses the media harness's memory reader and writer.
$(OBJ)/tests/unit/check_media.o: CPPFLAGS += -Itests/fuzz
$(OBJ)/tests/unit/check_fuzz_corpus.o: CPPFLAGS += -Itests/fuzz \
    -DFUZZ_CORPUS_DIR='"$(CURDIR)/tests/fuzz/corpus"'

$(FUZZ_OUT)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(FUZZ_CC) $(CPPFLAGS) -Irelay -Itests/fuzz -DFUZZ_LIBFUZZER $(FUZZ_CFLAGS) \
	    -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_OUT)/libfuzzchat.a: $(patsubst %.c,$(FUZZ_OUT)/obj/%.o,$(FUZZ_LIB_SRC) tests/fuzz/fuzz_util.c)
	$(AR) rcs $@ $^

$(FUZZ_OUT)/fuzz_%: $(FUZZ_OUT)/obj/tests/fuzz/fuzz_%.o $(FUZZ_OUT)/libfuzzchat.a
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -pthread -o $@ $^ $(PKG_LIBS)

.PHONY: fuzz-build
fuzz-build: $(patsubst %,$(FUZZ_OUT)/fuzz_%,$(FUZZ_NAMES))

fuzz: fuzz-build
	@tests/fuzz/run.sh $(FUZZ_OUT) $(FUZZ_SECONDS) $(FUZZ_NAMES)
