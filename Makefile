# make run: set up and serve on the embedded SQLite store. make test: set up and run the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
BIND ?= 127.0.0.1:8000
export BIND

.PHONY: run test test-sqlite test-postgres lint clean bench soak wrk scale

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)

# The service's own list for make run; the test tools on top for make test.
$(VENV)/.service: $(BIN)/activate requirements.txt middleware/pyproject.toml
	@echo "Installing the service's packages (requirements.txt: Flask, gunicorn, Peewee, ...)"
	@echo "into $(VENV); the first time takes about a minute."
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.installed: $(VENV)/.service requirements-dev.txt clients/python/pyproject.toml
	@echo "Installing the test tools (requirements-dev.txt) into $(VENV)."
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

# 5 minutes of mixed signed traffic at RATE requests/s (default: half the pixel's measured
# maximum) while workers are killed, Redis goes away and the store is locked; SOAK_ARGS=--postgres
# runs it on a throwaway PostgreSQL cluster, which it stops and starts.
soak: $(VENV)/.installed wrk
	$(BIN)/python bench/soak.py $(if $(RATE),--rate $(RATE)) $(SOAK_ARGS)

# ruff, mypy strict on middleware/ and clients/python, the layers of conversions/ (importlinter),
# no regular expression that can backtrack more than linearly in the service and client code
# (tools/redos_check.py), and the Prometheus alert rules with their unit tests (promtool, from
# Debian's prometheus package: skipped with a line when missing, failed under CI=true).
lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python -m tools.redos_check conversions middleware config clients/python app.py wsgi.py
	@if command -v promtool >/dev/null; then \
		promtool check rules deploy/prometheus/alerts.yml \
		&& promtool test rules deploy/prometheus/alerts_test.yml; \
	elif [ "$$CI" = true ]; then \
		echo "promtool is missing: apt-get install prometheus" >&2; exit 1; \
	else \
		echo "skipped: promtool check rules (promtool is missing: apt-get install prometheus)"; \
	fi

# The benchmark (bench/): wrk from Debian's packages (installing it needs root), the
# plotting library into .venv, then every scenario in one bounded run.
$(VENV)/.bench-installed: $(VENV)/.installed bench/requirements.txt
	$(BIN)/pip install --quiet --disable-pip-version-check -r bench/requirements.txt
	touch $@

wrk:
	@command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; } \
		|| { echo "wrk is missing: run 'apt-get install -y wrk' as root" >&2; exit 1; }

bench: $(VENV)/.bench-installed wrk
	$(BIN)/python -m bench.run

# Figures at a large history (bench/scale.py): N events (default 2,000,000) generated through
# the bulk path, the aggregation catch-up, ingestion, every read. DATABASE_URL picks the store
# (unset: SQLite; postgresql://...: a new database on that server, dropped afterwards).
scale: $(VENV)/.bench-installed
	$(BIN)/python -m bench.scale $(if $(N),--events $(N))

clean:
	rm -rf $(VENV) instance .pytest_cache
