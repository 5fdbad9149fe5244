/*
 * check_deploy_lighttpd_pools.c - the shipped lighttpd site with the external spawn-fcgi pools
 * (deploy/lighttpd/fastcgi-pools.conf), run as a private
 * instance on 127.0.0.1:8083 by deploy/test/deploy.sh; the checks are in
 * tests/support/deploy_checks.c.
 */
#include "deploy_checks.h"

DEPLOY_SUITE(lighttpd_pools, "lighttpd-pools", 8083, 1, DEPLOY_WS_NONE)
