#!/usr/bin/env bash
# Install the Debian packages that `make test` and `make e2e` need on a bare Debian 12 machine.
# Idempotent: asks apt nothing when every package is already installed.
set -euo pipefail
# shellcheck source=.ci/lib.sh
. "$(dirname "$0")/lib.sh"

packages=(
    docker.io        # engine (20.10) + containerd + runc
    debootstrap      # stand-in base images built from Debian
    ca-certificates
    curl
    openssl          # self-signed certificates for the TLS e2e test
    git
    make
    python3
    python3-venv
    python3-pip
    redis-server     # unit tests of the Redis-backed rate limits
    nginx-light      # nginx config checks outside Docker
    prometheus       # promtool checks of the monitoring config
    tmux             # interactive CLI tests
    chromium         # the page at / in a real browser (tests/unit/browser, tests/e2e/test_browser.py)
    chromium-driver  # ... driven by Selenium through chromedriver
    fonts-liberation # ... with text in its screenshots (a recommends of chromium, not installed here)
)

# The JavaScript clients of tests/clients (`make install` runs npm ci): Debian's Node.js only when
# no npm is installed already (a newer Node.js from elsewhere is kept).
command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)

missing=()
for pkg in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q '^install ok installed$' \
        || missing+=("$pkg")
done

if ((${#missing[@]} == 0)); then
    log "Debian packages: all present"
    exit 0
fi
log "Debian packages: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Packages must not start their daemons (redis, nginx, prometheus) on install: tests start their own.
policy=/usr/sbin/policy-rc.d
created_policy=0  # read by the EXIT trap
if [[ ! -e $policy ]]; then
    # shellcheck disable=SC2034  # read by the EXIT trap
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && created_policy=1
fi
trap 'if ((created_policy)); then rm -f "$policy"; fi' EXIT
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
