"""Observability: Prometheus metrics (definitions and per-request recording), readiness checks and
the JSON logs.

May import the core (``errors``, ``settings``, ``context``, ``middleware``); nothing above it.
"""
