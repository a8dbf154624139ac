#!/bin/sh
# Roll out a new gateway image without failing a request in flight: `make upgrade` (README
# "Upgrading"). Two gateway containers take turns behind nginx, which connects to whichever one
# owns the shared socket /run/gateway/gateway.sock (gateway/src/gateway/serving/handoff.py):
#
#   prepare
#   1. build the gateway image (new code or base image); nothing runs it yet
#   2. start a second gateway container from it next to the running one and wait until it is
#      healthy (if it never is, it is removed again and the old one serves on: exit 1)
#   finish
#   3. `gateway takeover` in the new container: the socket now leads there, so every new
#      connection from nginx goes to the new container (no nginx reload: a reload would close
#      nginx's idle client connections under requests clients are sending)
#   4. stop the old container (SIGTERM): gunicorn lets every request in flight finish (streams
#      included, up to GUNICORN_GRACEFUL_TIMEOUT), answers further requests on nginx's open
#      connections with `Connection: close` and waits until nginx has given up its idle ones
#   5. remove the old container
#
#   gateway/rollout.sh [all|prepare|finish]     (default all; `prepare`, look around, `finish`)
#
# COMPOSE is the compose command (default `docker compose`), e.g. with -f, -p or --env-file.
# NO_BUILD=1 skips step 1 (the image was built or loaded already). Every wait is bounded.
set -eu

COMPOSE=${COMPOSE:-docker compose}
HEALTHY_SECONDS=${HEALTHY_SECONDS:-180}
# After the takeover, connections nginx opened a moment before it still reach the old socket.
SETTLE_SECONDS=${SETTLE_SECONDS:-2}
# compose's stop_grace_period of the gateway: GUNICORN_GRACEFUL_TIMEOUT + 10 s.
STOP_SECONDS=${STOP_SECONDS:-130}
STEP=${1:-all}

say() { printf 'upgrade: %s\n' "$*" >&2; }
die() {
    say "$*"
    exit 1
}
compose() {
    # shellcheck disable=SC2086  # COMPOSE is a command line
    $COMPOSE "$@"
}
gateways() { compose ps -q gateway; }
count() { printf '%s\n' "$1" | grep -c . || true; }

prepare() {
    old=$(gateways)
    [ "$(count "$old")" -eq 1 ] || [ -z "$old" ] ||
        die "more than one gateway container runs: a rollout is under way or was interrupted (docker compose ps gateway; finish it with: gateway/rollout.sh finish)"
    [ -n "$old" ] || die "no gateway container is running: start the stack first (make up)"
    if [ "${NO_BUILD:-0}" != 1 ]; then
        say "1/5 building the gateway image"
        compose build gateway
    fi
    say "2/5 starting a second gateway container from the new image"
    compose up -d --no-deps --no-recreate --no-build --scale gateway=2 gateway
    new=$(gateways | grep -v "^$old" || true)
    [ -n "$new" ] || die "the new gateway container did not start"
    waited=0
    while :; do
        health=$(docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}' "$new")
        [ "$health" = healthy ] && break
        if [ "$health" = unhealthy ] || [ "$health" = exited ] || [ "$waited" -ge "$HEALTHY_SECONDS" ]; then
            docker logs --tail 50 "$new" >&2 || true
            docker stop "$new" >/dev/null
            docker rm "$new" >/dev/null
            die "the new gateway container was $health after ${waited}s: removed it; the old one serves on"
        fi
        sleep 1
        waited=$((waited + 1))
    done
    say "the new gateway container $new is healthy; the old one $old still serves"
}

finish() {
    both=$(gateways)
    [ "$(count "$both")" -eq 2 ] || die "finish needs two gateway containers (run prepare first)"
    # The older one serves now; the newer one takes over.
    sorted=$(docker inspect -f '{{.Created}} {{.Id}}' $both | sort | cut -d' ' -f2)
    old=$(printf '%s\n' "$sorted" | head -n 1)
    new=$(printf '%s\n' "$sorted" | tail -n 1)
    say "3/5 the new container takes over nginx's socket"
    docker exec "$new" gateway takeover >&2
    sleep "$SETTLE_SECONDS"
    say "4/5 stopping the old container (requests in flight finish first)"
    docker stop -t "$STOP_SECONDS" "$old" >/dev/null
    say "5/5 removing the old container"
    docker rm "$old" >/dev/null
    say "done: the gateway runs $(docker inspect -f '{{.Config.Image}} ({{.Image}})' "$new")"
}

case "$STEP" in
    all) prepare && finish ;;
    prepare) prepare ;;
    finish) finish ;;
    *) die "usage: $0 [all|prepare|finish]" ;;
esac
