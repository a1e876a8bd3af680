# Two commands for a fresh machine with Python 3.12+ and make: `make demo` and `make test`.
# scripts/bootstrap.py (standard library only) finds a suitable Python, creates .venv and
# installs the locked dependencies; every target below starts with it.

SHELL := /bin/bash
BOOT_PYTHON := $(shell command -v python3 || command -v python)
VENV_PY = .venv/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
# The suite runs on every core (pytest-xdist); PYTEST_WORKERS=0 runs it in one process.
PYTEST_WORKERS ?= auto

.PHONY: demo test venv lint format run worker beat messages clean check-python

check-python:
	@if [ -z "$(BOOT_PYTHON)" ]; then \
		echo "No python3 found. Install Python 3.12 or newer (https://www.python.org/downloads/)."; exit 2; fi

venv: check-python
	@$(BOOT_PYTHON) scripts/bootstrap.py >/dev/null

## make demo: install, migrate a SQLite database, load the demo coalition, print a login, serve.
demo: venv
	$(VENV_PY) manage.py migrate --noinput -v 1
	$(VENV_PY) manage.py demo --reset-admin-password --url http://$(HOST):$(PORT)/admin/
	$(VENV_PY) manage.py runserver $(HOST):$(PORT)

## make test: install, then ruff (lint and format check), the import layers (import-linter),
## the types of the core's services (mypy) and the whole test suite.
test: venv
	$(VENV_PY) -m ruff check .
	$(VENV_PY) -m ruff format --check .
	.venv/bin/lint-imports
	.venv/bin/mypy
	$(VENV_PY) manage.py makemigrations --check --dry-run -v 1
	$(VENV_PY) -m pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

lint: venv
	$(VENV_PY) -m ruff check .
	$(VENV_PY) -m ruff format --check .

format: venv
	$(VENV_PY) -m ruff check --fix .
	$(VENV_PY) -m ruff format .

run: venv
	$(VENV_PY) manage.py runserver $(HOST):$(PORT)

worker: venv
	.venv/bin/celery -A config worker --loglevel INFO

beat: venv
	.venv/bin/celery -A config beat --loglevel INFO

## make messages: refresh the Russian catalogues and compile them (needs GNU gettext).
## makemessages writes only locale/ru (our strings): it skips templates/vendor (copies of
## third-party templates), and writes no file outside the first of LOCALE_PATHS for our sources,
## so locale/vendor/ru (django-unfold's and the admin's strings, kept by hand: see
## docs/glossary-ru.md) is never rewritten nor marked obsolete. compilemessages compiles both.
messages: venv
	$(VENV_PY) manage.py makemessages -l ru --no-obsolete --ignore=.venv --ignore=tests --ignore=bench --ignore=templates/vendor -v 0
	$(VENV_PY) manage.py compilemessages --ignore=.venv -v 0

clean:
	rm -rf .venv .pytest_cache .ruff_cache .mypy_cache .hypothesis staticfiles
