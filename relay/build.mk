# The WebSocket relay. Everything but main.c is in RELAY_LIB_SRC so the
# unit tests link the same objects.
RELAY_LIB_SRC := relay/admission.c relay/batch.c relay/ev.c relay/fanout.c relay/handshake.c relay/i64map.c relay/lastseq.c relay/listener.c relay/metrics.c relay/presence.c relay/proto.c \
                 relay/redis_bus.c relay/redis_outbox.c relay/redis_pub.c relay/seqalloc.c \
                 relay/ratelimit.c relay/relay.c relay/replay.c relay/roommap.c relay/routes.c relay/seqgen.c \
                 relay/session.c relay/transport.c relay/workq.c relay/writer.c relay/wsconn.c

$(eval $(call program,chat-relay,relay/main.c $(RELAY_LIB_SRC),))
