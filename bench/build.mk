# The load generator (make bench runs it through bench/run.sh; never part of
# make test). Its non-main sources are BENCH_LIB_SRC so the unit tests can
# check the WebSocket client and the scanners against wslay without a stack.

BENCH_LIB_SRC := bench/wsclient.c bench/jscan.c bench/latstats.c bench/chatapi.c \
                 bench/procstat.c bench/dbcount.c bench/fleet.c bench/scenarios.c bench/report.c \
                 bench/storeplan.c bench/benchstore.c

$(eval $(call program,chat-bench,bench/main.c $(BENCH_LIB_SRC),$(CURL_LIBS)))

$(OBJ)/tests/unit/check_wsclient.o $(OBJ)/tests/unit/check_jscan.o \
$(OBJ)/tests/unit/check_latstats.o $(OBJ)/tests/unit/check_storeplan.o \
$(OBJ)/tests/unit/check_report.o: CPPFLAGS += -Ibench

# chat-bench-jwt: token verifications per second per algorithm, in one
# process with no server; signs its tokens with the tests' stand-in provider.
$(eval $(call program,chat-bench-jwt,bench/jwtbench.c tests/support/idp_keys.c,))
$(OBJ)/bench/jwtbench.o: CPPFLAGS += -Itests/support

# chat-bench-evpass: instructions per pass of the relay's event loop
# (relay/ev.c) with N idle sockets and one busy one (bench/evpass.c).
$(eval $(call program,chat-bench-evpass,bench/evpass.c relay/ev.c,))
$(OBJ)/bench/evpass.o: CPPFLAGS += -Irelay
# chat-bench-mongostub: a MongoDB-wire stand-in that acknowledges writes at
# once, for bench/run.sh relayonly (the relay measured without the store).
# Borrows the relay's int64 hash map; no test links it.
$(eval $(call program,chat-bench-mongostub,bench/mongostub.c bench/mongostub_wire.c \
    bench/mongostub_store.c relay/i64map.c,))
$(OBJ)/bench/mongostub_store.o: CPPFLAGS += -Irelay
