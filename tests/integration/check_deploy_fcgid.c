/*
 * check_deploy_fcgid.c - the shipped Apache mod_fcgid site (deploy/apache/chat-fcgid.conf),
 * the alternative to mod_proxy_fcgi, run as a private
 * instance on 127.0.0.1:8084 by deploy/test/deploy.sh; the checks are in
 * tests/support/deploy_checks.c.
 */
#include "deploy_checks.h"

DEPLOY_SUITE(fcgid, "fcgid", 8084, 0, DEPLOY_WS_NONE)
