# make run: set up and serve on the embedded SQLite store. make test: set up and run the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
BIND ?= 127.0.0.1:8000
export BIND

.PHONY: run test test-sqlite test-postgres lint clean bench soak

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)

# The service's own list for make run; the test tools on top for make test.
$(VENV)/.service: $(BIN)/activate requirements.txt
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.installed: $(VENV)/.service requirements-dev.txt clients/python/pyproject.toml
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

run: $(VENV)/.service
	$(BIN)/flask --app app init-db
	$(BIN)/gunicorn -c config/gunicorn.conf.py wsgi:app

# The whole suite twice: on SQLite, then on a throwaway PostgreSQL database (skipped with a
# message when PostgreSQL is unreachable, failed under CI=true).
test: test-sqlite test-postgres

test-sqlite: $(VENV)/.installed
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-postgres: $(VENV)/.installed
	$(BIN)/python -m tests.postgres_pass $(PYTEST_ARGS)

# 60 s of signed loopback traffic while a worker is killed and the store is locked
# (DATABASE_URL=postgresql://... stops and starts that cluster instead).
soak: $(VENV)/.installed
	$(BIN)/python bench/soak.py $(SOAK_ARGS)

# ruff, mypy strict on middleware/ and clients/python, the layers of conversions/ (importlinter).
lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# The benchmark (bench/): wrk from Debian's packages (installing it needs root), the
# plotting library into .venv, then every scenario in one bounded run.
$(VENV)/.bench-installed: $(VENV)/.installed bench/requirements.txt
	$(BIN)/pip install --quiet --disable-pip-version-check -r bench/requirements.txt
	touch $@

bench: $(VENV)/.bench-installed
	@command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; } \
		|| { echo "wrk is missing: run 'apt-get install -y wrk' as root" >&2; exit 1; }
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) instance .pytest_cache
