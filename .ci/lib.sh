# Shared helpers for the .ci/ scripts (sourced, not executed).
# shellcheck shell=bash disable=SC2034  # variables used by the scripts that source this

# Where the Compose plugin's virtualenv lives (outside the work tree: it is a machine tool).
CI_TOOLS_DIR="${CI_TOOLS_DIR:-/opt/gptoss-ci}"
# Tag prefix of the locally built stand-ins for the official base images.
STAND_IN_PREFIX="${STAND_IN_PREFIX:-gptoss-ci}"
DEBIAN_SUITE="${DEBIAN_SUITE:-bookworm}"
CI_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# log MESSAGE... — timestamped progress line on stderr.
log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# die MESSAGE... — say what went wrong and stop.
die() { log "ERROR: $*"; exit 1; }

# timed NAME CMD... — run CMD, then log how long it took.
timed() {
    local name=$1 start=$SECONDS
    shift
    "$@"
    log "$name took $((SECONDS - start))s"
}
