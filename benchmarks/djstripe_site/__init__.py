"""dj-stripe's webhook view, served for the benchmarks from a venv of its own (.venvs/djstripe)."""
