/*
 * check_deploy_lighttpd.c - the shipped lighttpd site (deploy/lighttpd/chat.conf with the programs
 * spawned by lighttpd, /ws through mod_proxy), run as a private
 * instance on 127.0.0.1:8083 by deploy/test/deploy.sh; the checks are in
 * tests/support/deploy_checks.c.
 *
 * Not DEPLOY_WS_ERRLOG: when the relay cannot be reached, lighttpd's
 * gw_backend writes "all handlers for /ws?token=... are down" to its error
 * log, and no setting turns that message off (README "Logs and tokens").
 */
#include "deploy_checks.h"

DEPLOY_SUITE(lighttpd, "lighttpd", 8083, 0, DEPLOY_WS)
