# Quickstart: `make run` (demo on http://127.0.0.1:8000) and `make test` (the whole suite).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PORT   ?= 8000

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

run: $(VENV)/.installed-run
	$(PY) manage.py migrate --noinput
	$(PY) manage.py demo_data --port $(PORT)
	$(PY) manage.py runserver 127.0.0.1:$(PORT)

test: $(VENV)/.installed-dev
	@.ci/preflight
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.installed-dev
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

worker: $(VENV)/.installed-run
	$(VENV)/bin/celery -A config worker --loglevel=INFO --pool=threads --concurrency=$${CELERY_CONCURRENCY:-8}

beat: $(VENV)/.installed-run
	$(VENV)/bin/celery -A config beat --loglevel=INFO

bench: $(VENV)/.installed-dev
	@.ci/preflight
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info staticfiles
