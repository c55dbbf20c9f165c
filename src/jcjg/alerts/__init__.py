"""Alerts: the rules engine (DESIGN.md decision 6).

A rule (``engine.rule``) is a pure check over the database that yields findings; the engine turns
findings into ``Alert`` rows idempotently, on writes (a session listener) and in a daily sweep.
Rules live in the ``rules.py`` of the domain whose data they check. See ``docs/alerts.md``.
"""
