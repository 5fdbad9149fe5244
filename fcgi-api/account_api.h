/*
 * account_api.h - GET /api/v1/me and, only while the config says
 * dev_login = 1, POST /api/v1/dev/login (create the user if needed and
 * return a JWT). Served by chat-account, which lighttpd also hands every
 * other /api/v1/ path: those get 404.
 */
#ifndef CHAT_ACCOUNT_API_H
#define CHAT_ACCOUNT_API_H

#include "api.h"

extern const struct api_app account_api_app;

/* account_api_parse_login: the username of a dev-login body. 0, or -1
 * after a 400 that states the username rule. */
int account_api_parse_login(const struct api_req *req, struct api_resp *resp,
                            const char **username);

#endif
