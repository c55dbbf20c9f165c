# JCJG — 建设工程检测监管信息服务平台. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# The interpreter .venv is made with: Python 3.12 where the machine has it (on PATH or under pyenv),
# else python3 (3.11 at least). On 3.12 coverage measures lines through sys.monitoring (PEP 669),
# each line reported once, where 3.11's C tracer runs at every line (CONTRIBUTING.md, "Tests").
# .venv is made again when the interpreter's version changes.
PYTHON ?= $(shell for p in python3.12 $$(ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.12.*/bin/python3 2>/dev/null | sort -V | tail -1) python3; do "$$p" -c 'import sys; assert sys.version_info >= (3, 11)' >/dev/null 2>&1 && { echo "$$p"; break; }; done)
PYTHON_VERSION := $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)
VENV := .venv
PY := $(VENV)/bin/python
JCJG := $(VENV)/bin/jcjg
APT_PACKAGES := chromium chromium-headless-shell postgresql-client nginx fonts-noto-cjk fonts-wqy-microhei zbar-tools poppler-utils ffmpeg gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-good gstreamer1.0-plugins-bad python3-gi
export JCJG_DATABASE_URL ?= sqlite:///var/jcjg.db
# pytest-xdist workers per database run (`make test WORKERS=1` runs serially); the browser tests
# share one group, so they run one after another on one worker while the others take the rest.
WORKERS ?= auto
# The PostgreSQL run (the whole suite; the SQLite run ends halfway through it) waits much of its
# time on its servers, browsers and subprocesses: one worker more than there are processors
# keeps the processors busy (2 cores, 2026-11-28: `.ci/run` 18 min 11 s with 2 workers, 15 min
# 45 s with 3). `make test WORKERS=N` sets both runs.
POSTGRES_WORKERS ?= $(if $(filter auto,$(WORKERS)),$(shell echo $$(( $$(nproc 2>/dev/null || echo 1) + 1 ))),$(WORKERS))
PYTEST_BARE := $(PY) -m pytest -n $(WORKERS) --dist loadgroup  # without coverage
# COVERAGE_RUN: more options of `coverage run` (`make coverage-branches` passes --branch)
COVERAGE_RUN ?=
PYTEST = $(VENV)/bin/coverage run $(COVERAGE_RUN) -m pytest -n $(WORKERS) --dist loadgroup
# Whether the PostgreSQL run happens: mandatory under JCJG_REQUIRE_POSTGRES=1, else when one answers.
POSTGRES_UP = [ "$${JCJG_REQUIRE_POSTGRES:-0}" = 1 ] || $(PY) -c "import psycopg,sys; psycopg.connect('$${JCJG_TEST_POSTGRES_DSN:-host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=3}').close()" 2>/dev/null
# The database run that runs the whole suite: empty, each run runs it all; `make test` gives
# it to the PostgreSQL run when there is one (CI makes it mandatory), and the SQLite run then
# runs the tests marked `sqlite` or `sqlite_only` (the embedded default: CONTRIBUTING.md).
WHOLE_SUITE_IN ?=
# `make coverage` writes the HTML report (var/coverage/html) unless COVERAGE_HTML=0 (.ci/run:
# nobody reads a clean clone's, and it costs 10 s)
COVERAGE_HTML ?= 1
test-profile: WHOLE_SUITE_IN = $$(if $(POSTGRES_UP); then echo postgresql; else echo sqlite; fi)

.PHONY: help run test test-profile lint lint-quick typecheck format fix db demo serve sysdeps assets install bench fuzz e2e test-sqlite test-postgres db-check coverage coverage-branches coverage-erase clean

help: ## List the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}'

run: sysdeps install assets db demo ## Install what is missing, migrate the SQLite database with its reference data, load demo data, serve on :8000 (a simulated region of LIMS starts sending on first start)
	JCJG_REGION_CODE=$${JCJG_REGION_CODE-360000} $(JCJG) serve --simulate

# The two database runs at once: each waits much of its time (servers, subprocesses, the
# browser), so together they finish sooner than one after the other (each run's output is
# printed when it ends).
test: install assets sysdeps lint-quick coverage-erase ## Install what is missing, lint, then the whole suite on PostgreSQL and the embedded default's tests on SQLite, in parallel, with one coverage total
	@whole=$$(if $(POSTGRES_UP); then echo postgresql; else echo sqlite; fi); \
	$(MAKE) --no-print-directory -j3 --output-sync=target WHOLE_SUITE_IN=$$whole typecheck test-sqlite test-postgres
	@$(MAKE) --no-print-directory coverage

# Where the suite's time goes: both database runs as `make test` makes them (coverage included),
# each test's set-up, call and tear-down recorded (tests/profiling.py), then one table: the 30
# slowest tests and set-ups, and the time per folder and per database. Pass or fail, the run is
# profiled.
test-profile: install assets sysdeps ## The 30 slowest tests and set-ups, and the time per folder and database, of `make test`'s two runs
	@rm -rf var/profile
	JCJG_TEST_DATABASE=sqlite JCJG_WHOLE_SUITE_IN=$(WHOLE_SUITE_IN) $(PYTEST) --profile-suite=var/profile/sqlite.json -q $(PYTEST_ARGS) >/dev/null || true
	@if $(POSTGRES_UP); then JCJG_TEST_DATABASE=postgresql JCJG_WHOLE_SUITE_IN=$(WHOLE_SUITE_IN) $(PYTEST) --profile-suite=var/profile/postgresql.json -q $(PYTEST_ARGS) >/dev/null || true; fi
	$(PY) -m tests.profiling var/profile/sqlite.json var/profile/postgresql.json

# uv installs what pip would, ten times faster (a minute of every fresh `make test`); pip
# when uv cannot be had
$(VENV)/.python-$(PYTHON_VERSION):
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet uv || true
	@touch $@

# Modules are installed compiled, and `install` compiles ours: Python reads compiled modules
# even when PYTHONDONTWRITEBYTECODE is set (as on these machines), and without them every
# process (each test worker, server, CLI call) compiled its 3,800 modules again: 4 s of CPU.
$(VENV)/.installed: pyproject.toml $(VENV)/.python-$(PYTHON_VERSION)
	$(VENV)/bin/uv pip install --quiet --compile-bytecode --python $(PY) -e ".[dev]" || $(PY) -m pip install --quiet -e ".[dev]"
	@touch $@

install: $(VENV)/.installed ## Create .venv and install the package with its development tools
	@$(PY) -m compileall -q -j0 src tests bench scripts >/dev/null

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error

src/jcjg/static/vendor/.copied: node_modules/.package-lock.json scripts/copy-vendor.mjs
	node scripts/copy-vendor.mjs
	@touch $@

assets: src/jcjg/static/vendor/.copied ## Install the npm packages (htmx, ECharts, Pico CSS, Swagger UI, ZXing) into static/vendor

sysdeps: ## Install the system packages tests use (Chromium, CJK fonts, zbar, poppler, ffmpeg, GStreamer RTSP server) when absent
	@missing=""; \
	for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

db: install ## Migrate the database (JCJG_DATABASE_URL, default var/jcjg.db) to the latest version and load the reference data it lacks (regions, catalogue)
	$(JCJG) db upgrade

demo: install ## Load the demo data (idempotent; passwords of new accounts are printed once)
	$(JCJG) demo load

serve: install assets ## Serve without installing demo data
	$(JCJG) serve

lint: lint-quick typecheck ## ruff check, ruff format --check, the import contracts (lint-imports), mypy --strict on src/jcjg

# `make test` runs the quick half first (it fails in seconds) and mypy beside the two database
# runs: alone, its ~25 s of CPU on one core held the suite back by a minute
lint-quick: install ## ruff check, ruff format --check, the import contracts (lint-imports)
	$(VENV)/bin/ruff check --no-cache src tests bench scripts
	$(VENV)/bin/ruff format --no-cache --check src tests bench scripts
	$(VENV)/bin/lint-imports --no-cache

typecheck: install ## mypy --strict on src/jcjg
	$(VENV)/bin/mypy src/jcjg

format: install ## Format the code and fix what ruff can
	$(VENV)/bin/ruff format src tests bench scripts
	$(VENV)/bin/ruff check --fix src tests bench scripts

db-check: install ## Migrate a scratch SQLite database and run alembic check (models = migrations; `make test` proves the same in tests/test_cli.py)
	@rm -f var/check.db; mkdir -p var
	JCJG_DATABASE_URL=sqlite:///var/check.db $(JCJG) db upgrade
	JCJG_DATABASE_URL=sqlite:///var/check.db $(JCJG) db check
	@rm -f var/check.db*

test-sqlite: install assets ## The suite on SQLite (WORKERS processes, each with its own copy of the run's database file)
	JCJG_TEST_DATABASE=sqlite JCJG_WHOLE_SUITE_IN=$(WHOLE_SUITE_IN) $(PYTEST) $(PYTEST_ARGS)

test-postgres: WORKERS := $(POSTGRES_WORKERS)
test-postgres: install assets ## The suite on PostgreSQL (a copy of the run's database per worker on 127.0.0.1:5432; skipped when unreachable unless JCJG_REQUIRE_POSTGRES=1)
	@if $(POSTGRES_UP); then \
	  JCJG_TEST_DATABASE=postgresql JCJG_WHOLE_SUITE_IN=$(WHOLE_SUITE_IN) $(PYTEST) $(PYTEST_ARGS); \
	else echo "PostgreSQL unreachable on 127.0.0.1:5432: PostgreSQL run skipped"; mkdir -p var/coverage; touch var/coverage/postgres-skipped; fi

coverage-erase: install ## Forget the coverage data of earlier runs
	@rm -rf var/coverage

coverage: install ## Combine the coverage data of the runs so far, print the total, write var/coverage/html
	@if compgen -G "var/coverage/.coverage.*" >/dev/null; then $(VENV)/bin/coverage combine --quiet --append; fi
	@if [ "$(COVERAGE_HTML)" != 0 ]; then $(VENV)/bin/coverage html --quiet --fail-under=0; fi
	@total=$$($(VENV)/bin/coverage report --format=total); held=$$?; \
	echo "coverage ($(if $(COVERAGE_RUN),lines and branches,lines), every run and subprocess): $$total%$$( [ "$(COVERAGE_HTML)" = 0 ] || echo '; report: var/coverage/html/index.html')"; \
	if [ -e var/coverage/postgres-skipped ]; then echo "PostgreSQL run skipped: the total is not held to fail_under"; \
	elif [ -n "$(COVERAGE_RUN)" ]; then echo "(fail_under in pyproject.toml holds the lines of make test)"; \
	elif [ $$held != 0 ]; then echo "coverage below fail_under in pyproject.toml"; exit 2; fi

# `make test` measures lines (pyproject.toml says why); this measures branches too, about a
# quarter slower, and prints the total without holding it to fail_under.
coverage-branches: install assets sysdeps coverage-erase ## `make test`'s two runs measured by lines and branches (slower); the total, not held to fail_under
	@whole=$$(if $(POSTGRES_UP); then echo postgresql; else echo sqlite; fi); \
	$(MAKE) --no-print-directory -j2 --output-sync=target WHOLE_SUITE_IN=$$whole COVERAGE_RUN=--branch test-sqlite test-postgres || true
	@$(MAKE) --no-print-directory coverage COVERAGE_RUN=--branch

bench: install ## Run every benchmark under bench/ (full sizes), the full fault test and the full three-level networking test
	@set -e; for b in bench/*.py; do [ -e "$$b" ] || continue; case "$${b##*/}" in _*) continue;; esac; echo "== $$b"; $(PY) $$b; done
	JCJG_TEST_DATABASE=postgresql JCJG_FAULT_MESSAGES=3000 $(PY) -m pytest -q -m slow tests/exchange/test_fault.py
	JCJG_TEST_DATABASE=postgresql JCJG_NETWORK_MESSAGES=400 $(PY) -m pytest -q -m slow tests/networking/test_three_levels.py

# The long fuzzing run (docs/development/fuzzing.md): the same modules as the short one in
# `make test`, FUZZ_EXAMPLES examples per operation, role and message type (over 20,000
# requests), in one process.
FUZZ_EXAMPLES ?= 120
fuzz: install assets ## Fuzz the JSON API (schemathesis: stateless and stateful, as a region administrator and a lab staff member) and the signed exchange (every message type) on PostgreSQL; prints `FUZZ requests=… server_errors=… schema_violations=…`; any 5xx or schema violation fails
	JCJG_TEST_DATABASE=postgresql JCJG_REQUIRE_POSTGRES=1 JCJG_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) \
	  $(PY) -m pytest -p no:cacheprovider -n 0 -q tests/fuzz $(PYTEST_ARGS)

# The end-to-end tests in full (`make test` runs short versions): every demo role on every page
# of its menu on a PC and a phone with a screenshot of each (JCJG_SCREENSHOT_DIR keeps them),
# every other browser test with its screenshots, every role on every route, on PostgreSQL, and
# the property tests with all their examples.
e2e: install assets sysdeps ## The browser tests, the route matrix, the property tests and the scale-out layout in full (every role on every page and route, screenshots, every example, 1,000 messages through nginx) on PostgreSQL
	JCJG_TEST_DATABASE=postgresql JCJG_REQUIRE_POSTGRES=1 JCJG_REQUIRE_BROWSER=1 JCJG_E2E=1 \
	  $(PYTEST_BARE) -q tests/browser tests/test_route_matrix.py $(PYTEST_ARGS)
	JCJG_TEST_DATABASE=postgresql JCJG_REQUIRE_POSTGRES=1 JCJG_E2E=1 $(PYTEST_BARE) -q -m property tests $(PYTEST_ARGS)
	JCJG_TEST_DATABASE=postgresql JCJG_REQUIRE_POSTGRES=1 JCJG_REQUIRE_REDIS=1 JCJG_SCALE_MESSAGES=500 \
	  $(PYTEST_BARE) -q tests/operations/test_scale_out.py $(PYTEST_ARGS)

clean: ## Remove the virtual environment, npm packages, generated assets and the local database
	rm -rf $(VENV) node_modules src/jcjg/static/vendor var .pytest_cache .mypy_cache .ruff_cache
