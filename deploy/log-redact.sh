#!/bin/sh
# log-redact.sh FILE - append stdin to FILE with every token= query value
# replaced by REDACTED, line by line.
#
# For web servers whose error log may quote a request URI, e.g. lighttpd's
# "all handlers for /ws?token=... are down" when the relay is away:
#   server.errorlog = "|/path/to/deploy/log-redact.sh /var/log/lighttpd/error.log"
# Socket tokens are single-use and short-lived, but a log is no place for one.
[ $# -eq 1 ] || { echo "usage: log-redact.sh FILE" >&2; exit 2; }
exec sed -u -E 's/([?&]token=)[^ &"]*/\1REDACTED/g' >>"$1"
