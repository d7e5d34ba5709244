# Development entry points:
#   make demo    the example project on http://127.0.0.1:8000/ (admin/admin)
#   make test    the everyday loop: lint (ruff, ruff format --check, strict mypy) and every
#                test that needs no outside service (SQLite, in process), in .venvs/test
#   make ci      everything CI runs (scripts/test): the gates, every cell of tox.ini with
#                PostgreSQL, Chromium, real servers and Redis, coverage, the wheel, the
#                README executed, the fault suite; a skipped test fails it
#   make lint    ruff, ruff format --check, strict mypy and the pre-commit hooks (tox -e lint)
#   make docs    the documentation site, into build/docs/
# `make test` and `make demo` need only Python 3.11+ (python3, or PYTHON=python3.12) and make.

.PHONY: demo test ci lint docs screenshots faults

PYTHON ?= python3
TEST_VENV := .venvs/test
# The tests that need an outside service carry a marker (pyproject.toml); `make test` leaves them out.
LOCAL_TESTS := not postgres and not browser and not servers and not redis

# PYTEST_ARGS: more pytest arguments, e.g. make test PYTEST_ARGS="-x tests/test_views.py".
test: $(TEST_VENV)/.seably-test
	$(TEST_VENV)/bin/ruff check .
	$(TEST_VENV)/bin/ruff format --check .
	$(TEST_VENV)/bin/mypy django_seably tests example_project benchmarks faults
	$(TEST_VENV)/bin/python -m pytest -m "$(LOCAL_TESTS)" $(PYTEST_ARGS)

# Installed again only when what it installs from changes.
$(TEST_VENV)/.seably-test: requirements/test.txt requirements/lint.txt setup.cfg pyproject.toml
	PYTHON=$(PYTHON) scripts/venv $(TEST_VENV) $@ -r requirements/test.txt -r requirements/lint.txt -e .

# What .ci/run runs after installing PostgreSQL, Chromium and redis-server; about 40 minutes
# on a 2-core machine (docs/development.md). Needs Python 3.11, 3.12 and 3.13.
ci:
	SEABLY_FORBID_SKIPS=1 scripts/test

# The fault and load suite (faults/run.py): gunicorn under load on SQLite and on a throwaway
# PostgreSQL while the database stops, workers are killed and receivers fail; about 4 minutes
# (FAULTS_ARGS=--quick: under 2). Exits 1 if anything answered 2xx was lost or duplicated.
faults:
	scripts/test faults

# ruff check, ruff format --check and strict mypy, in tox's lint env (requirements/lint.txt).
lint:
	scripts/test lint

# The documentation site (Sphinx, furo, MyST Markdown); warnings and broken links fail.
docs:
	scripts/test docs
	@echo "open build/docs/index.html"

# The venv is (re)installed only when the packaging files change; data lives in
# example_project/db.sqlite3 (delete it to start over).
DEMO_VENV := .venv

demo: $(DEMO_VENV)/.seably-demo
	$(DEMO_VENV)/bin/python manage.py migrate
	$(DEMO_VENV)/bin/python manage.py demo_setup
	$(DEMO_VENV)/bin/python manage.py runserver 127.0.0.1:8000

$(DEMO_VENV)/.seably-demo: setup.cfg pyproject.toml
	PYTHON=$(PYTHON) scripts/venv $(DEMO_VENV) $@ -e .

# Refresh the README's screenshots (taken by the browser tests).
screenshots:
	SEABLY_SCREENSHOTS=1 scripts/test py311-django52-sqlite -- tests/test_browser.py -p no:randomly
