# The load generator (make bench runs it through bench/run.sh; never part of
# make test). Its non-main sources are BENCH_LIB_SRC so the unit tests can
# check the WebSocket client and the scanners against wslay without sockets
# to the stack.

BENCH_LIB_SRC := bench/wsclient.c bench/jscan.c bench/latstats.c

$(OBJ)/tests/unit/check_wsclient.o $(OBJ)/tests/unit/check_jscan.o \
$(OBJ)/tests/unit/check_latstats.o: CPPFLAGS += -Ibench
