"""Access: API keys (store, in-memory table, ``gateway keys`` CLI), what a key may do, the auth and
rate-limit guard, its stores (:mod:`.ratelimit`) and the ASGI middleware applying them; which web
pages on other origins may call the API from a browser (:mod:`.cors`).

May import only the core (``errors``, ``settings``, ``context``); nothing above it.
"""
