/*
 * check_deploy_lighttpd.c - the shipped lighttpd site (deploy/lighttpd/chat.conf with the programs
 * spawned by lighttpd, /ws through mod_proxy), run as a private
 * instance on 127.0.0.1:8083 by deploy/test/deploy.sh; the checks are in
 * tests/support/deploy_checks.c.
 *
 * lighttpd itself quotes the URL, token included, in its error log when
 * the relay cannot be reached ("all handlers for /ws?token=... are down");
 * the instance pipes that log through deploy/log-redact.sh, as README
 * "Deploying" tells lighttpd users to, and DEPLOY_WS_ERRLOG checks it.
 */
#include "deploy_checks.h"

DEPLOY_SUITE(lighttpd, "lighttpd", 8083, 0, DEPLOY_WS_ERRLOG)
