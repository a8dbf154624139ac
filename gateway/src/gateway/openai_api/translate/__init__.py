"""OpenAI <-> Ollama translation, one module per endpoint family; pure functions, no I/O.

May import :mod:`gateway.openai_api.protocol`, the generation vocabulary and ``errors``.
"""
