/*
 * check_deploy_cgi.c - the shipped Apache CGI site (deploy/apache/chat-cgi.conf): the same
 * binaries as plain CGI under mod_cgid, one process per request, run as a private
 * instance on 127.0.0.1:8084 by deploy/test/deploy.sh; the checks are in
 * tests/support/deploy_checks.c.
 */
#include "deploy_checks.h"

DEPLOY_SUITE(cgi, "cgi", 8084, 0, DEPLOY_WS_NONE)
