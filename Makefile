# Quickstart: `make run` (demo on http://127.0.0.1:8000) and `make test` (the whole suite).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PORT   ?= 8000
# The app reads it too: its built-in sandboxes answer on this port (PROVIDER_SANDBOX_URL).
export PORT

.PHONY: run test lint format worker beat bench check-deploy clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip

# Re-install only when pyproject.toml changes.
$(VENV)/.installed-run: pyproject.toml | $(PY)
	$(VENV)/bin/pip install --quiet .
	@rm -rf build *.egg-info
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(PY)
	$(VENV)/bin/pip install --quiet ".[dev]"
	@rm -rf build *.egg-info
	@touch $(VENV)/.installed-run $@

# One command: runserver, and in the same process the periodic tasks (CELERY_BEAT_SCHEDULE).
run: $(VENV)/.installed-run
	$(PY) manage.py migrate --noinput
	$(PY) manage.py demo_data --port $(PORT)
	$(PY) manage.py serve_embedded 127.0.0.1:$(PORT)

# Tests run in parallel (pytest-xdist), one process per CPU up to four; each worker has its
# own test database and Redis key prefix.  PYTEST_WORKERS=0 runs them in one process.
PYTEST_WORKERS ?= $(shell n=$$(nproc 2>/dev/null || echo 2); [ $$n -gt 4 ] && n=4; echo $$n)

test: $(VENV)/.installed-dev
	@.ci/preflight
	$(PY) -m pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

# mypy covers where the rules live: core, every actions and queries module, the adapters.
MYPY_TARGETS = core balances/providers webhooks/http.py webhooks/signing.py \
	webhooks/payloads.py $(shell find services approvals balances payouts alerts webhooks \
	\( -name actions.py -o -name queries.py -o -path '*/actions/*.py' -o -path '*/sync/*.py' \) \
	-not -path '*/migrations/*' | sort)

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/python .ci/check_imports.py
	$(VENV)/bin/mypy $(MYPY_TARGETS)

format: $(VENV)/.installed-dev
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

worker: $(VENV)/.installed-run
	$(VENV)/bin/celery -A config worker --loglevel=INFO --pool=threads --concurrency=$${CELERY_CONCURRENCY:-2}

beat: $(VENV)/.installed-run
	$(VENV)/bin/celery -A config beat --loglevel=INFO

bench: $(VENV)/.installed-dev
	@.ci/preflight
	@command -v wrk >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
	  && echo "make bench: installing wrk (apt-get install wrk)..." \
	  && (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk) >/dev/null; } \
	  || { echo "make bench: wrk is needed for benchmarks/api_balances.py (install Debian's 'wrk')" >&2; exit 1; }
	$(PY) benchmarks/run_all.py

# Django's production checks, as README promises they pass: DEBUG off and throwaway values
# for the variables production must set (nothing is served or stored).
check-deploy: $(VENV)/.installed-run
	DEBUG=0 ALLOWED_HOSTS=backoffice.example.com \
	SECRET_KEY="$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(50))')" \
	CREDENTIALS_ENCRYPTION_KEY="$$($(PY) -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')" \
	$(PY) manage.py check --deploy --fail-level WARNING

clean:
	rm -rf $(VENV) build *.egg-info staticfiles
