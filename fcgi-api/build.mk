# The API programs: one thin main per concern over the shared core
# (shared/api.c, shared/api_fcgi.c), plus chatctl for scripts and tests.
# The *_api.c handlers are API_LIB_SRC so the unit tests link them.

API_LIB_SRC := fcgi-api/rooms_api.c fcgi-api/history_api.c fcgi-api/token_api.c \
               fcgi-api/account_api.c fcgi-api/media_api.c fcgi-api/mediastore.c \
               fcgi-api/media_thumb.c
# libgd for thumbnails (media_thumb.c); the unit tests link it too.
API_LIBS    := -lgd

$(eval $(call program,chat-rooms,fcgi-api/chat_rooms.c fcgi-api/rooms_api.c,))
$(eval $(call program,chat-history,fcgi-api/chat_history.c fcgi-api/history_api.c,))
$(eval $(call program,chat-token,fcgi-api/chat_token.c fcgi-api/token_api.c,))
$(eval $(call program,chat-account,fcgi-api/chat_account.c fcgi-api/account_api.c,))
$(eval $(call program,chat-media,fcgi-api/chat_media.c fcgi-api/media_api.c fcgi-api/mediastore.c \
    fcgi-api/media_thumb.c,$(API_LIBS)))
$(eval $(call program,chatctl,fcgi-api/chatctl.c fcgi-api/mediastore.c,))
