# chat-mongo-cmd: runs one MongoDB command document for migrate.sh.
$(eval $(call program,chat-mongo-cmd,migrations/mongo_cmd.c,))
