/*
 * check_deploy_lighttpd.c - the shipped lighttpd site (deploy/lighttpd/chat.conf with the programs
 * spawned by lighttpd, /ws through mod_proxy), run as a private
 * instance on 127.0.0.1:8083 by deploy/test/deploy.sh; the checks are in
 * tests/support/deploy_checks.c.
 */
#include "deploy_checks.h"

DEPLOY_SUITE(lighttpd, "lighttpd", 8083, 0, 1)
