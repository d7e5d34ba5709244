# Development entry points. `make test` is the one command that runs the whole
# suite (see scripts/test); `make lint` runs ruff and mypy.

.PHONY: test lint

VENV52 := .venvs/django52
MYPY_TARGETS := django_seably tests

test:
	scripts/test

# Lint tools go into the Django 5.2 test venv (mypy needs Django, pytest, ...).
lint:
	SEABLY_DJANGO=52 SEABLY_VENV_ONLY=1 scripts/test
	$(VENV52)/bin/python -m pip install -q --disable-pip-version-check -r requirements/lint.txt
	$(VENV52)/bin/ruff check .
	$(VENV52)/bin/ruff format --check .
	$(VENV52)/bin/mypy $(MYPY_TARGETS)
