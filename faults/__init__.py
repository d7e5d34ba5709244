"""The fault and load suite: gunicorn under load on SQLite and PostgreSQL while things break (``python -m faults.run``).

A package of its own, outside ``tests/``, because it runs for minutes against real
processes and databases, and prints tables rather than pass/fail dots.
"""
