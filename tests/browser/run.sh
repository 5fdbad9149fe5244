#!/usr/bin/env bash
# run.sh - run the browser test (chat.test.js) against the running stack.
#
# Installs playwright-core, the one dependency, with `npm ci` from the
# committed package-lock.json when node_modules is missing or holds another
# version; later runs need no network. Playwright's own browser download is
# never used: the test drives Debian's /usr/bin/chromium. Whatever goes wrong,
# the last line is `browser: N passed, N failed`.
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
cd "$HERE" || exit 1

fail_setup() {
    echo "browser: $*" >&2
    echo "browser: 0 passed, 1 failed"
    exit 1
}

command -v node >/dev/null || fail_setup "node is not installed (deploy/dev/deps.sh installs it)"
command -v npm >/dev/null || fail_setup "npm is not installed (deploy/dev/deps.sh installs it)"
[[ -x ${CHAT_TEST_CHROMIUM:-/usr/bin/chromium} ]] ||
    fail_setup "${CHAT_TEST_CHROMIUM:-/usr/bin/chromium} is missing (Debian package chromium)"

want=$(node -p "require('./package.json').dependencies['playwright-core']")
have=$(node -p "try { require('./node_modules/playwright-core/package.json').version } catch (e) { '' }")
if [[ $have != "$want" ]]; then
    echo "browser: installing playwright-core $want (npm ci)"
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error >npm-ci.log 2>&1 ||
        { cat npm-ci.log >&2; fail_setup "npm ci failed"; }
    rm -f npm-ci.log
fi

exec node chat.test.js
