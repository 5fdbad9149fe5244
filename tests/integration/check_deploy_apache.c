/*
 * check_deploy_apache.c - the shipped Apache site (deploy/apache/chat.conf: mod_proxy_fcgi to the
 * spawn-fcgi pools, /ws through mod_proxy_http), run as a private
 * instance on 127.0.0.1:8081 by deploy/test/deploy.sh; the checks are in
 * tests/support/deploy_checks.c.
 */
#include "deploy_checks.h"

DEPLOY_SUITE(apache, "apache", 8081, 1, DEPLOY_WS_ERRLOG)
