# Test programs. Every tests/unit/check_<name>.c and
# tests/integration/check_<name>.c exports `Suite *<name>_suite(void)`; the
# list of suites is generated from the file names, so adding a test file is
# all it takes. Unit tests link the non-main objects of the relay and the API
# programs (RELAY_LIB_SRC, API_LIB_SRC from their build.mk).

UNIT_SRC        := $(wildcard tests/unit/check_*.c)
INTEG_SRC       := $(wildcard tests/integration/check_*.c)
SUPPORT_SRC     := $(wildcard tests/support/*.c)

$(BUILD)/gen/unit_suites.h: $(UNIT_SRC) tests/build.mk
	@mkdir -p $(@D)
	@printf '%s\n' $(patsubst tests/unit/check_%.c,SUITE(%),$(UNIT_SRC)) > $@

$(BUILD)/gen/integration_suites.h: $(INTEG_SRC) tests/build.mk
	@mkdir -p $(@D)
	@printf '%s\n' $(patsubst tests/integration/check_%.c,SUITE(%),$(INTEG_SRC)) > $@

$(OBJ)/tests/unit_runner.o: tests/runner.c $(BUILD)/gen/unit_suites.h
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(CHECK_CFLAGS) -I$(BUILD)/gen -DSUITES_H='"unit_suites.h"' \
	    -DRUNNER_NAME='"unit"' -c -o $@ $<

$(OBJ)/tests/integration_runner.o: tests/runner.c $(BUILD)/gen/integration_suites.h
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(CHECK_CFLAGS) -I$(BUILD)/gen -DSUITES_H='"integration_suites.h"' \
	    -DRUNNER_NAME='"integration"' -c -o $@ $<

$(OBJ)/tests/%.o: CFLAGS += $(CHECK_CFLAGS)
$(OBJ)/tests/%.o: CPPFLAGS += -Itests/support -Irelay -Ifcgi-api

$(eval $(call program,unit_tests,$(UNIT_SRC) $(SUPPORT_SRC) $(RELAY_LIB_SRC) $(API_LIB_SRC),\
    $(OBJ)/tests/unit_runner.o $(CHECK_LIBS) $(CURL_LIBS)))
$(BIN)/unit_tests: $(OBJ)/tests/unit_runner.o

$(eval $(call program,integration_tests,$(INTEG_SRC) $(SUPPORT_SRC) $(RELAY_LIB_SRC),\
    $(OBJ)/tests/integration_runner.o $(CHECK_LIBS) $(CURL_LIBS)))
$(BIN)/integration_tests: $(OBJ)/tests/integration_runner.o
