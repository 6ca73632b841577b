#!/usr/bin/env bash
# The Debian packages the test suite needs, installed when missing (make test runs this first):
#   chromium      the browser tests (Playwright drives Debian's /usr/bin/chromium)
#   bubblewrap    the sandbox every graded notebook runs in (nst_grader/sandbox.py)
#   postgresql-15 a throwaway PostgreSQL server for the many-graders gradebook
#   nodejs, npm   JupyterHub's proxy for the hub test (make hub-proxy: npm ci into hub/node_modules)
# As root on Debian it installs what is missing. Elsewhere it names the one command to run and
# stops, unless PARTIAL=1 asks for a partial run (the tests that need a missing package are then
# skipped, and each skip is named at the end of the run; with CI=true such a skip fails the run).
set -euo pipefail
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v bwrap > /dev/null || missing+=(bubblewrap)
[ -x /usr/lib/postgresql/15/bin/initdb ] || missing+=(postgresql-15)
command -v npm > /dev/null || missing+=(nodejs npm)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get > /dev/null; then
    echo "installing ${missing[*]} (Debian packages the tests need)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
    exit 0
fi
if [ "${PARTIAL:-}" = 1 ]; then
    echo "PARTIAL=1: ${missing[*]} missing; the tests that need them will be skipped" >&2
    exit 0
fi
echo "make test needs the Debian packages: ${missing[*]}. Install them with:" >&2
echo "    sudo apt-get install ${missing[*]}" >&2
echo "or run the tests that need none of them with: make test PARTIAL=1" >&2
exit 1
