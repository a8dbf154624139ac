-- wrk script: non-streaming /api/chat against the fake Ollama.
--   wrk -t1 -c8 -d10s --latency -s tests/fake_ollama/bench/chat.lua http://127.0.0.1:PORT
wrk.method = "POST"
wrk.path = "/api/chat"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"model":"gpt-oss:20b","stream":false,"messages":[{"role":"user","content":"Say hello"}]}'
