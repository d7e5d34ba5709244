# Development entry points. `make demo` runs the example project on
# http://127.0.0.1:8000/ (admin/admin); `make test` is the one command that runs
# the whole suite (see scripts/test); `make lint` runs ruff and mypy.

.PHONY: demo test lint screenshots faults

VENV52 := .venvs/django52
MYPY_TARGETS := django_seably tests example_project benchmarks faults

test:
	scripts/test

# The fault and load suite (faults/run.py): gunicorn under load on SQLite and on a throwaway
# PostgreSQL while the database stops, workers are killed and receivers fail; about 4 minutes
# (FAULTS_ARGS=--quick: under 2). Exits 1 if anything answered 2xx was lost or duplicated.
faults:
	SEABLY_DJANGO=52 SEABLY_VENV_ONLY=1 scripts/test
	scripts/with-postgres $(VENV52)/bin/python -m faults.run --db both $(FAULTS_ARGS)

# Lint tools go into the Django 5.2 test venv (mypy needs Django, pytest, ...).
lint:
	SEABLY_DJANGO=52 SEABLY_VENV_ONLY=1 scripts/test
	$(VENV52)/bin/python -m pip install -q --disable-pip-version-check -r requirements/lint.txt
	$(VENV52)/bin/ruff check .
	$(VENV52)/bin/ruff format --check .
	$(VENV52)/bin/mypy $(MYPY_TARGETS)

# Needs only Python 3.11+ (with venv) and make. The venv is (re)installed only when
# the packaging files change; data lives in example_project/db.sqlite3 (delete it to start over).
DEMO_PYTHON ?= python3
DEMO_VENV := .venv

demo: $(DEMO_VENV)/.seably-demo
	$(DEMO_VENV)/bin/python manage.py migrate
	$(DEMO_VENV)/bin/python manage.py demo_setup
	$(DEMO_VENV)/bin/python manage.py runserver 127.0.0.1:8000

$(DEMO_VENV)/.seably-demo: setup.cfg pyproject.toml
	@$(DEMO_PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
		|| { echo "make demo needs Python 3.11+ as $(DEMO_PYTHON) (or: make demo DEMO_PYTHON=python3.12)" >&2; exit 1; }
	@test -x $(DEMO_VENV)/bin/python || $(DEMO_PYTHON) -m venv $(DEMO_VENV) || { rm -rf $(DEMO_VENV); \
		echo "'$(DEMO_PYTHON) -m venv' failed: install python3-venv (sudo apt-get install python3-venv)" >&2; exit 1; }
	@# A venv made without pip (uv, or before python3-venv was installed) gets it now.
	@$(DEMO_VENV)/bin/python -m pip --version >/dev/null 2>&1 || $(DEMO_VENV)/bin/python -m ensurepip -q \
		|| { echo "$(DEMO_VENV) has no pip: install python3-venv, or delete $(DEMO_VENV)" >&2; exit 1; }
	$(DEMO_VENV)/bin/python -m pip install -q --disable-pip-version-check -e .
	@touch $@

# Refresh the README's screenshots (taken by the browser tests).
screenshots:
	SEABLY_DJANGO=52 SEABLY_SCREENSHOTS=1 scripts/test tests/test_browser.py -p no:randomly
