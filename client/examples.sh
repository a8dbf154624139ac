#!/usr/bin/env bash
# curl examples for every endpoint of the gpt-oss-20b API gateway.
#
#   BASE_URL=http://gpu-box:8080 API_KEY=sk-... client/examples.sh            # run them all
#   BASE_URL=... API_KEY=... client/examples.sh chat tools                    # just these
#   client/examples.sh --list                                                 # their names
#
# BASE_URL may end in /v1 or not. MODEL (default gpt-oss:20b) picks the chat model and
# EMBED_MODEL (default nomic-embed-text, which must be pulled on the server) the embedding one.
# Each example is one plain curl command you can copy; every one must succeed (`--fail-with-body`
# turns an HTTP error into a non-zero exit that stops the script, with the error body shown).
set -euo pipefail

MODEL="${MODEL:-gpt-oss:20b}"
EMBED_MODEL="${EMBED_MODEL:-nomic-embed-text}"

ex_health() {
  label "health" "liveness and readiness (no key needed)"
  curl -sS --fail-with-body "$ROOT/health/live" | pretty
  curl -sS --fail-with-body "$ROOT/health/ready" | pretty
}

ex_models() {
  label "models" "the models your key may use, then one of them"
  curl -sS --fail-with-body "$ROOT/v1/models" -H "$AUTH" | pretty
  curl -sS --fail-with-body "$ROOT/v1/models/$MODEL" -H "$AUTH" | pretty
}

ex_chat() {
  label "chat" "a chat completion: the answer is in choices[0].message.content"
  curl -sS --fail-with-body "$ROOT/v1/chat/completions" -H "$AUTH" -H "$JSON" -d '{
    "model": "'"$MODEL"'",
    "messages": [
      {"role": "system", "content": "You answer in one sentence."},
      {"role": "user", "content": "Why is the sky blue?"}
    ]
  }' | pretty
}

ex_stream() {
  label "stream" "streamed as server-sent events, ending with data: [DONE]"
  curl -sS -N --fail-with-body "$ROOT/v1/chat/completions" -H "$AUTH" -H "$JSON" -d '{
    "model": "'"$MODEL"'",
    "messages": [{"role": "user", "content": "Count from 1 to 5."}],
    "stream": true,
    "stream_options": {"include_usage": true}
  }'
}

ex_reasoning() {
  label "reasoning" "reasoning_effort low|medium|high; the thinking is in message.reasoning"
  curl -sS --fail-with-body "$ROOT/v1/chat/completions" -H "$AUTH" -H "$JSON" -d '{
    "model": "'"$MODEL"'",
    "reasoning_effort": "high",
    "messages": [{"role": "user", "content": "Is 391 a prime number?"}]
  }' | pretty
}

ex_tools() {
  label "tools" "function calling: the model asks for get_weather (finish_reason tool_calls) ..."
  curl -sS --fail-with-body "$ROOT/v1/chat/completions" -H "$AUTH" -H "$JSON" -d '{
    "model": "'"$MODEL"'",
    "messages": [{"role": "user", "content": "What is the weather in Paris?"}],
    "tools": [{
      "type": "function",
      "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
          "type": "object",
          "properties": {"city": {"type": "string"}},
          "required": ["city"]
        }
      }
    }]
  }' | pretty
  # ... and you send the call's result back as a "tool" message to get the final answer.
  curl -sS --fail-with-body "$ROOT/v1/chat/completions" -H "$AUTH" -H "$JSON" -d '{
    "model": "'"$MODEL"'",
    "messages": [
      {"role": "user", "content": "What is the weather in Paris?"},
      {"role": "assistant", "content": "", "tool_calls": [{
        "id": "call_1", "type": "function",
        "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}
      }]},
      {"role": "tool", "tool_call_id": "call_1", "content": "{\"temp_c\": 18, \"sky\": \"clear\"}"}
    ]
  }' | pretty
}

ex_structured() {
  label "structured" "structured output: the answer is JSON matching the schema"
  curl -sS --fail-with-body "$ROOT/v1/chat/completions" -H "$AUTH" -H "$JSON" -d '{
    "model": "'"$MODEL"'",
    "messages": [{"role": "user", "content": "Name a country and its capital."}],
    "response_format": {
      "type": "json_schema",
      "json_schema": {
        "name": "country",
        "schema": {
          "type": "object",
          "properties": {"country": {"type": "string"}, "capital": {"type": "string"}},
          "required": ["country", "capital"]
        }
      }
    }
  }' | pretty
}

ex_completions() {
  label "completions" "legacy text completion"
  curl -sS --fail-with-body "$ROOT/v1/completions" -H "$AUTH" -H "$JSON" -d '{
    "model": "'"$MODEL"'",
    "prompt": "The three primary colours are",
    "max_tokens": 64
  }' | pretty
}

ex_embeddings() {
  label "embeddings" "one vector per input (needs an embedding model; dimensions shortens them)"
  curl -sS --fail-with-body "$ROOT/v1/embeddings" -H "$AUTH" -H "$JSON" -d '{
    "model": "'"$EMBED_MODEL"'",
    "input": ["The cat sat on the mat.", "A feline rested on the rug."],
    "dimensions": 8
  }' | pretty
}

ex_responses() {
  label "responses" "the Responses API (stateless): output[] holds reasoning and message items"
  curl -sS --fail-with-body "$ROOT/v1/responses" -H "$AUTH" -H "$JSON" -d '{
    "model": "'"$MODEL"'",
    "instructions": "Answer briefly.",
    "input": "What is the boiling point of water at sea level?",
    "reasoning": {"effort": "low"}
  }' | pretty
}

ex_responses_stream() {
  label "responses_stream" "the Responses API streamed: typed events up to response.completed"
  curl -sS -N --fail-with-body "$ROOT/v1/responses" -H "$AUTH" -H "$JSON" -d '{
    "model": "'"$MODEL"'",
    "input": "Say hello in three languages.",
    "stream": true
  }'
}

ex_ollama_chat() {
  label "ollama_chat" "Ollama's own API, for Ollama clients: one JSON answer, then NDJSON lines"
  curl -sS --fail-with-body "$ROOT/api/chat" -H "$AUTH" -H "$JSON" -d '{
    "model": "'"$MODEL"'",
    "messages": [{"role": "user", "content": "Say hi."}],
    "think": "low",
    "stream": false
  }' | pretty
  curl -sS -N --fail-with-body "$ROOT/api/chat" -H "$AUTH" -H "$JSON" -d '{
    "model": "'"$MODEL"'",
    "messages": [{"role": "user", "content": "Say hi."}]
  }'
}

EXAMPLES=(health models chat stream reasoning tools structured completions embeddings
  responses responses_stream ollama_chat)

label() { # the heading of one example
  if [[ -t 1 ]]; then
    printf '\n\033[1m### %s\033[0m  %s\n' "$1" "$2"
  else
    printf '\n### %s  %s\n' "$1" "$2"
  fi
}

pretty() { # indent JSON when jq is installed; print as is otherwise
  if command -v jq >/dev/null 2>&1; then jq .; else cat && echo; fi
}

main() {
  if [[ "${1:-}" == "--list" ]]; then
    printf '%s\n' "${EXAMPLES[@]}"
    return
  fi
  : "${BASE_URL:?set BASE_URL to the gateway, e.g. BASE_URL=http://localhost:8080}"
  : "${API_KEY:?set API_KEY (an admin creates one with: gateway keys create --name you)}"
  ROOT="${BASE_URL%/}"
  ROOT="${ROOT%/v1}"
  AUTH="Authorization: Bearer $API_KEY"
  JSON="Content-Type: application/json"
  local chosen=("$@") name
  ((${#chosen[@]})) || chosen=("${EXAMPLES[@]}")
  for name in "${chosen[@]}"; do
    if ! declare -F "ex_$name" >/dev/null; then
      echo "unknown example '$name'; choose from: ${EXAMPLES[*]}" >&2
      return 2
    fi
  done
  for name in "${chosen[@]}"; do
    "ex_$name"
  done
  printf '\n%d example(s) ran, every request succeeded\n' "${#chosen[@]}"
}

main "$@"
