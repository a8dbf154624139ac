"""OpenAI request models: :mod:`.chat` (chat and text completions), :mod:`.responses`.

Imports nothing of the gateway but its sibling modules here.
"""
