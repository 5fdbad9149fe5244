/*
 * check_deploy_nginx.c - the shipped nginx site (deploy/nginx/chat.conf: fastcgi_pass to the
 * spawn-fcgi pools, /ws proxied), run as a private
 * instance on 127.0.0.1:8082 by deploy/test/deploy.sh; the checks are in
 * tests/support/deploy_checks.c.
 */
#include "deploy_checks.h"

DEPLOY_SUITE(nginx, "nginx", 8082, 1, DEPLOY_WS_ERRLOG)
