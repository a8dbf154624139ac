"""A fast, faithful fake of Ollama's HTTP API with fault injection, for tests and benchmarks.

Run it with ``python -m fake_ollama --host 127.0.0.1 --port N``; start it from tests with
:class:`fake_ollama.testing.FakeOllamaProcess`. The contract it follows is
``/work/shared/ollama-api.md``; the README next to ``pyproject.toml`` lists knobs and faults.
"""
