"""Rate-limit stores: the shared vocabulary (:mod:`.store`), ``memory://`` and ``redis://``.

May import only each other; the guard in :mod:`gateway.access.guard` decides with them.
"""
