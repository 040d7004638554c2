# Quick start: `make demo` runs the demo on SQLite, `make test` runs the tests.
# Both create the virtual environment in .venv when it is missing.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
ARGS ?=
# Where `make test-postgres` keeps its throwaway PostgreSQL server.
PG_DIR ?= .pg

.PHONY: venv demo test test-stress test-postgres demo-postgres test-all lint format bench clean

venv: $(STAMP)

# setup.py and the C source too: an editable install builds the extension
# once, so a changed .c file needs the install again.
$(STAMP): pyproject.toml setup.py src/perfprobe/db/_callsite.c \
		src/perfprobe/db/_recorder.c src/perfprobe/_fold.c src/perfprobe/_reqpath.c \
		src/perfprobe/_attrcache.h src/perfprobe/_timebuiltin.h \
		src/perfprobe/db/_walkerapi.h
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) .ci/check-extensions
	touch $(STAMP)

demo: $(STAMP)
	$(PY) manage.py migrate --noinput --verbosity 0
	$(PY) manage.py run_performance_demo $(ARGS)

test: $(STAMP)
	$(PY) -m pytest

test-stress: $(STAMP)
	$(PY) -m pytest -m stress

# The default suite, the stress group and a demo run against a throwaway
# PostgreSQL server (.ci/postgres), which is stopped however the run ends.
test-postgres: $(STAMP)
	@trap '.ci/postgres stop $(PG_DIR)' EXIT; trap 'exit 130' INT TERM; \
	url=$$(.ci/postgres start $(PG_DIR)) && \
	DATABASE_URL=$$url $(PY) -m pytest && \
	DATABASE_URL=$$url $(PY) -m pytest -m stress && \
	DATABASE_URL=$$url $(MAKE) --no-print-directory demo ARGS="--time-scale 0.1"

# The demo alone on the throwaway PostgreSQL server, stopped afterwards.
demo-postgres: $(STAMP)
	@trap '.ci/postgres stop $(PG_DIR)' EXIT; trap 'exit 130' INT TERM; \
	url=$$(.ci/postgres start $(PG_DIR)) && \
	DATABASE_URL=$$url $(MAKE) --no-print-directory demo ARGS="$(or $(ARGS),--time-scale 0.1)"

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: $(STAMP)
	$(PY) bench/run_all.py $(ARGS)

clean:
	-test -d $(PG_DIR) && .ci/postgres stop $(PG_DIR)
	rm -rf $(VENV) bench/.venv $(PG_DIR) db.sqlite3 db.sqlite3-* test_db.sqlite3*
