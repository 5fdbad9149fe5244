# Test programs. Every tests/unit/check_<name>.c and
# tests/integration/check_<name>.c exports `Suite *<name>_suite(void)`; the
# list of suites is generated from the file names, so adding a test file is
# all it takes. Unit tests link the non-main objects of the relay and the API
# programs (RELAY_LIB_SRC, API_LIB_SRC from their build.mk).

UNIT_SRC        := $(sort $(wildcard tests/unit/check_*.c))
# sanitizer_reports runs last: it reads what every earlier test left in the logs.
INTEG_LAST      := tests/integration/check_sanitizer_reports.c
INTEG_SRC       := $(filter-out $(INTEG_LAST),$(sort $(wildcard tests/integration/check_*.c))) $(INTEG_LAST)
SUPPORT_SRC     := $(wildcard tests/support/*.c)

include tests/fuzz/build.mk

# The lists are rewritten only when they change, so adding or removing a
# test file relinks the runner and nothing else.
$(BUILD)/gen/unit_suites.h: FORCE
	@mkdir -p $(@D)
	@printf '%s\n' $(patsubst tests/unit/check_%.c,'SUITE(%)',$(UNIT_SRC)) > $@.tmp
	@cmp -s $@.tmp $@ && rm $@.tmp || mv $@.tmp $@

$(BUILD)/gen/integration_suites.h: FORCE
	@mkdir -p $(@D)
	@printf '%s\n' $(patsubst tests/integration/check_%.c,'SUITE(%)',$(INTEG_SRC)) > $@.tmp
	@cmp -s $@.tmp $@ && rm $@.tmp || mv $@.tmp $@

.PHONY: FORCE
FORCE:

$(OBJ)/tests/unit_runner.o: tests/runner.c $(BUILD)/gen/unit_suites.h
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(CHECK_CFLAGS) -I$(BUILD)/gen -DSUITES_H='"unit_suites.h"' \
	    -DRUNNER_NAME='"unit"' -c -o $@ $<

$(OBJ)/tests/integration_runner.o: tests/runner.c $(BUILD)/gen/integration_suites.h
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(CHECK_CFLAGS) -I$(BUILD)/gen -DSUITES_H='"integration_suites.h"' \
	    -DRUNNER_NAME='"integration"' -c -o $@ $<

# A test file's one export is its suite, declared by the generated list.
$(OBJ)/tests/%.o: CFLAGS += $(CHECK_CFLAGS) -Wno-missing-prototypes
$(OBJ)/tests/%.o: CPPFLAGS += -Itests/support -Irelay -Ifcgi-api

$(eval $(call program,unit_tests,$(UNIT_SRC) $(SUPPORT_SRC) $(RELAY_LIB_SRC) $(API_LIB_SRC) $(BENCH_LIB_SRC) \
    $(FUZZ_SRC),\
    $(OBJ)/tests/unit_runner.o $(CHECK_LIBS) $(CURL_LIBS) $(API_LIBS)))
$(BIN)/unit_tests: $(OBJ)/tests/unit_runner.o

$(eval $(call program,integration_tests,$(INTEG_SRC) $(SUPPORT_SRC) $(RELAY_LIB_SRC),\
    $(OBJ)/tests/integration_runner.o $(CHECK_LIBS) $(CURL_LIBS)))
$(BIN)/integration_tests: $(OBJ)/tests/integration_runner.o
