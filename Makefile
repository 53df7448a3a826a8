# The README's two commands: `make demo` and `make test`. Both set up what they need first (idempotent, fast when done).
SHELL := /bin/bash
# The first Python 3.11–3.13 found (override: make PYTHON=/path/to/python3.12 test).
ifndef PYTHON
PYTHON := $(shell for p in python3.13 python3.12 python3.11 python3; do \
  command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(not (3, 11) <= sys.version_info[:2] <= (3, 13))' \
  2>/dev/null && { echo $$p; break; }; done)
endif
VENV := .venv
BIN := $(VENV)/bin
TORCH := torch==2.13.0
STAMP := $(VENV)/.installed
DEPS := requirements.txt requirements-dev.txt pyproject.toml

.PHONY: demo test setup system lint bench clean help
.DEFAULT_GOAL := help

help:
	@echo "make demo   - run blogbot end to end on the bundled example (sets up on first run)"
	@echo "make test   - run the test suite (sets up on first run)"
	@echo "make lint   - ruff + hadolint"
	@echo "make bench  - run the benchmarks under bench/"

$(STAMP): $(DEPS)
	@test -n "$(PYTHON)" && command -v $(PYTHON) >/dev/null || { echo "error: no Python 3.11, 3.12 or 3.13 found" \
	  "(python3 --version says: $$(python3 --version 2>&1)); install one, e.g. 'sudo apt-get install python3-venv'," \
	  "or run make PYTHON=/path/to/python3.12" >&2; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	@# torch first, pinned: an unpinned torch pulled in by another package is a multi-GB CUDA build
	$(BIN)/python -m pip install -q $(TORCH)
	$(BIN)/python -m pip install -q $(TORCH) -r requirements.txt -r requirements-dev.txt
	$(BIN)/python -m pip install -q --no-deps -e .
	@touch $@

setup: $(STAMP) system

# Debian's chromium and the CJK fonts for publishing through Playwright (the browser download is not used).
system:
	@if command -v chromium >/dev/null && fc-list 2>/dev/null | grep -qi "noto sans cjk"; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing chromium and fonts-noto-cjk (apt)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	    chromium fonts-noto-cjk >/dev/null; \
	else \
	  echo "note: publishing needs Chromium and Korean fonts: run 'sudo apt-get install chromium fonts-noto-cjk'" \
	       "(or set browser.executable_path in config.yaml); browser tests will skip" >&2; \
	fi

demo: setup
	examples/demo/demo.sh

test: setup
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check bot jobs platforms tests bench
	$(BIN)/hadolint Dockerfile

bench: setup
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
