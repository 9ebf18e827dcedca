# The two commands of the README: `make demo` and `make test`. Both set up what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Debian packages the tests start for real (nginx, haproxy, ...), installed when missing.
DEBIAN_PACKAGES :=

.PHONY: demo test test-deps lint bench docs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	@for d in examples/*/; do \
		name=$$(basename $$d); \
		echo "=== examples/$$name: $$(cat $$d/COMMAND)"; \
		$(BIN)/why5xx $$(cat $$d/COMMAND | sed 's/^why5xx //') --bundle $$d --no-color; \
		echo; \
	done; true

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test-deps: $(STAMP)
	@missing=""; for p in $(DEBIAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

test: test-deps lint
	$(BIN)/python -m pytest

docs: $(STAMP)
	$(BIN)/python -m why5xx.docs docs/rules

bench: $(STAMP)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
