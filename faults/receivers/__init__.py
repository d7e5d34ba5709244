"""A tiny app installed only by faults.settings: receivers that record every signal in the database.

The receivers run in gunicorn workers (and in ``seably_reprocess``), so the database
is the only place the suite can count what they did.
"""
