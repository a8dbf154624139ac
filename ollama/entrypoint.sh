#!/usr/bin/env bash
# Ollama container entrypoint.
#  1. starts `ollama serve` in the background (the API is up, and healthy, from the first seconds);
#  2. waits until the server answers;
#  3. for each model in OLLAMA_PULL_MODELS (comma or space separated) that `ollama show` cannot find,
#     runs `ollama pull` — never for a model already present, since a pull needs the internet even
#     then — logging progress, and retrying with exponential backoff (saying why) when a pull fails;
#  4. passes SIGTERM/SIGINT on to the server and exits with the server's status.
# OLLAMA_MODELS is deliberately not used for the list: inside the container it is Ollama's own
# setting for the model directory.
set -uo pipefail

models="${OLLAMA_PULL_MODELS-gpt-oss:20b}"
retry_seconds="${OLLAMA_PULL_RETRY_SECONDS:-10}"
retry_max_seconds="${OLLAMA_PULL_RETRY_MAX_SECONDS:-300}"

log() { printf '%s [entrypoint] %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*"; }

# Turn the CLI's redrawn progress display into a few plain log lines: strip terminal escapes, split
# on carriage returns and newlines, print each status line once and a layer's progress every 10%.
progress_filter() {
    awk 'BEGIN { RS = "[\r\n]" }
    function show(line,    layer, pct) {
        sub(/^[ \t]+/, "", line)
        sub(/[ \t]+$/, "", line)
        if (line == "") return
        if (match(line, /[0-9]+%/)) {
            layer = substr(line, 1, RSTART - 1)
            pct = substr(line, RSTART, RLENGTH - 1) + 0
            if ((layer in shown) && (pct == shown[layer] || (pct < shown[layer] + 10 && pct != 100))) return
            shown[layer] = pct
        } else {
            if (line in seen) return
            seen[line] = 1
        }
        print "  " line
        fflush()
    }
    {
        # Cursor movements separate redrawn lines just like newlines do.
        gsub("\033\\[[0-9;?]*[A-Za-z]", "\n")
        n = split($0, lines, "\n")
        for (i = 1; i <= n; i++) show(lines[i])
    }'
}

# pull_with_retry MODEL — pull until it succeeds; the delay doubles up to retry_max_seconds.
pull_with_retry() {
    local model=$1 delay=$retry_seconds attempt=1 output reason
    output="$(mktemp)"
    while true; do
        log "pulling $model (attempt $attempt)"
        if ollama pull "$model" 2>&1 | progress_filter | tee "$output"; then
            log "$model is ready"
            rm -f "$output"
            return 0
        fi
        reason="$(grep -v '^[[:space:]]*$' "$output" | tail -n 1 | sed 's/^[[:space:]]*//')"
        log "pull of $model failed: ${reason:-no output from ollama pull}; retrying in ${delay}s"
        sleep "$delay"
        delay=$((delay * 2 > retry_max_seconds ? retry_max_seconds : delay * 2))
        attempt=$((attempt + 1))
    done
}

ensure_models() {
    local model
    local -a wanted
    IFS=', ' read -r -a wanted <<<"$models"
    for model in "${wanted[@]}"; do
        [[ -n $model ]] || continue
        if ollama show "$model" >/dev/null 2>&1; then
            log "$model is already present; not pulling"
        else
            log "$model is missing; downloading it (follow with: docker compose logs -f ollama)"
            pull_with_retry "$model"
        fi
    done
    log "all models present: ${models:-none requested}"
}

/bin/ollama serve &
server=$!
puller=""

# shellcheck disable=SC2317  # invoked by the traps below
forward() {
    log "received SIG$1; stopping the server"
    if [[ -n $puller ]]; then kill -TERM "$puller" 2>/dev/null; fi
    kill "-$1" "$server" 2>/dev/null
}
trap 'forward TERM' TERM
trap 'forward INT' INT

until ollama list >/dev/null 2>&1; do
    if ! kill -0 "$server" 2>/dev/null; then
        wait "$server"
        status=$?
        log "ollama serve exited with status $status before answering"
        exit "$status"
    fi
    sleep 1
done
log "server is answering on ${OLLAMA_HOST:-127.0.0.1:11434}"

ensure_models &
puller=$!

# `wait` returns early when a trapped signal arrives: keep waiting until the server has really exited.
while true; do
    wait "$server"
    status=$?
    kill -0 "$server" 2>/dev/null || break
done
kill -TERM "$puller" 2>/dev/null
log "server exited with status $status"
exit "$status"
