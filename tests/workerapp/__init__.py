"""A test app for the worker processes of tests/test_workers.py: signal records and receivers in the database."""
