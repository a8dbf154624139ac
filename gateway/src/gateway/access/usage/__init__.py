"""The usage ledger (who used how much, per key, model and UTC day and month) and the budgets
checked against it: :mod:`.ledger` (the vocabulary and the charge), :mod:`.memory_store` and
:mod:`.redis_store` (where the counts live), :mod:`.budgets` (429 ``insufficient_quota``),
:mod:`.statement` (``GET /v1/me``) and :mod:`.report_cli` (``gateway keys usage``).
"""
