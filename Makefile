# The two commands a newcomer needs: `make run` and `make test`. Everything else is for developers.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# Runs a command with the embedded PostgreSQL and Redis up, unless DATABASE_URL / REDIS_URL are set.
WITH_SERVICES := $(BIN)/python -m config.embedded --

.PHONY: run test lint typecheck check-migrations manage bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check --upgrade pip

$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q --disable-pip-version-check -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q --disable-pip-version-check -e ".[dev]"
	@touch $@ $(VENV)/.installed-run

## make run: PostgreSQL, Redis, migrations, demo data, gunicorn, a Celery worker and beat. Ctrl-C stops all.
run: $(VENV)/.installed-run
	$(BIN)/python -m config.run

## make test: lint, types, migrations check, then the whole suite on real PostgreSQL and Redis.
test: $(VENV)/.installed-dev lint typecheck check-migrations
	$(WITH_SERVICES) $(BIN)/pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy .

check-migrations: $(VENV)/.installed-dev
	$(WITH_SERVICES) $(BIN)/python manage.py makemigrations --check --dry-run

## make bench: the API benchmarks (bench/) on a database of their own; figures in var/bench/results.json.
bench: $(VENV)/.installed-run
	$(WITH_SERVICES) $(BIN)/python -m bench

## make manage ARGS="createsuperuser": any manage.py command against the same services.
manage: $(VENV)/.installed-run
	$(WITH_SERVICES) $(BIN)/python manage.py $(ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
