# wiretag — executable documentation. `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
SHARED ?= ../shared
RUN_STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev
TRAIN_STAMP := $(VENV)/.installed-train
PYTEST_ARGS ?=
# analysts' corrections to train on (files from `make corrections`), e.g.
#   make train CORRECTIONS=data/corrections.jsonl
CORRECTIONS ?=

.DEFAULT_GOAL := help
.PHONY: help run service poller test lint fmt train corrections evaluate bench screenshots clean distclean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(RUN_STAMP): pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install -q -e .
	@touch $@

$(DEV_STAMP): pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install -q -e '.[dev]'
	@touch $@ $(RUN_STAMP)

# Both programs run as one job in the foreground (set -m, fg): Ctrl-C reaches them, not
# make, and each stops cleanly and says so in one line; make exits 0.  SIGTERM to the job
# is passed on.  If one program stops by itself, the other is stopped too and make
# reports the first one's status.
run: $(RUN_STAMP) ## start the service (127.0.0.1:8000) and the poller; Ctrl-C stops both
	@set -m; ( trap 'stopping=1' INT; trap 'stopping=1; kill -TERM $$svc $$pol' TERM; \
	  $(VENV)/bin/gunicorn -c gunicorn.conf.py 'service:create_app()' & svc=$$!; \
	  $(PY) -m poller & pol=$$!; \
	  wait -n; first=$$?; [ -n "$$stopping" ] || kill -TERM $$svc $$pol 2>/dev/null; \
	  wait $$svc; svc_status=$$?; wait $$pol; pol_status=$$?; \
	  if [ -n "$$stopping" ]; then exit $$(( svc_status | pol_status )); fi; exit $$first \
	) & fg %1 >/dev/null

service: $(RUN_STAMP) ## start only the HTTP service
	$(VENV)/bin/gunicorn -c gunicorn.conf.py 'service:create_app()'

poller: $(RUN_STAMP) ## start only the polling daemon
	$(PY) -m poller

$(TRAIN_STAMP): pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install -q -e '.[train]'
	@touch $@ $(RUN_STAMP)

test: $(DEV_STAMP) lint ## lint, type-check and run the whole test suite
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(DEV_STAMP) ## ruff (lint + format check), mypy and the import contracts
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache

fmt: $(DEV_STAMP) ## format the code and apply safe lint fixes
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

train: $(TRAIN_STAMP) ## retrain the shipped model, card and report from ../shared/data, training/data and CORRECTIONS=
	$(PY) -m training train \
	  $(foreach f,$(CORRECTIONS),--data '$(f)') \
	  --data '$(SHARED)/data/*.jsonl' --exclude seed_articles \
	  --data 'training/data/*.jsonl' \
	  --check $(SHARED)/data/seed_articles.jsonl --out model --report

corrections: $(RUN_STAMP) ## export analysts' corrections to data/corrections.jsonl (for make train)
	$(PY) -m training export-corrections --out data/corrections.jsonl

evaluate: $(RUN_STAMP) ## score the shipped model on the ten seed articles
	$(PY) -m training evaluate --data $(SHARED)/data/seed_articles.jsonl

bench: $(DEV_STAMP) ## benchmarks: model throughput, service load, poller feeds/s, workspace pages, story grouping, re-tag, export
	$(PY) bench/bench_model.py --shared $(SHARED)
	$(PY) bench/bench_service.py
	$(PY) bench/bench_poller.py
	$(PY) bench/bench_workspace.py
	$(PY) bench/bench_stories.py --shared $(SHARED)
	$(PY) bench/bench_retag.py
	$(PY) bench/bench_export.py

screenshots: $(DEV_STAMP) ## re-take the README's workspace screenshots (the browser test, into docs/screenshots/)
	WIRETAG_TEST_SCREENSHOTS=docs/screenshots $(PY) -m pytest -q tests/workspace/test_browser.py

clean: ## remove caches and build output (keeps .venv and data/)
	rm -rf build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache .import_linter_cache bench/results
	find . -name __pycache__ -type d -not -path './.venv/*' -prune -exec rm -rf {} +

distclean: clean ## also remove .venv and the local data directory
	rm -rf $(VENV) data
