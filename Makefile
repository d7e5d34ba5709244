# Development entry points. `make demo` runs the example project on
# http://127.0.0.1:8000/ (admin/admin); `make test` is the one command that runs
# everything CI runs (scripts/test: the gates, every cell of tox.ini, coverage,
# the wheel, the fault suite); `make lint` runs ruff and mypy; `make docs` builds
# the documentation site into build/docs/.

.PHONY: demo test lint docs screenshots faults

test:
	scripts/test

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
	SEABLY_SCREENSHOTS=1 scripts/test py311-django52-sqlite -- tests/test_browser.py -p no:randomly
