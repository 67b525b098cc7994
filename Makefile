# make run: set up and serve on the embedded SQLite store. make test: set up and run the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
BIND ?= 127.0.0.1:8000
export BIND

.PHONY: run test test-sqlite test-postgres lint clean bench

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: $(BIN)/activate requirements.txt requirements-dev.txt
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

run: $(VENV)/.installed
	$(BIN)/flask --app app init-db
	$(BIN)/gunicorn -c config/gunicorn.conf.py wsgi:app

test: $(VENV)/.installed
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/mypy

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
