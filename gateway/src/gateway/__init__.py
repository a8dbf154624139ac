"""OpenAI-compatible API gateway in front of Ollama serving gpt-oss:20b."""

__version__ = "0.1.0"
