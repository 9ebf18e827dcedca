# The two commands of the README: `make demo` and `make test`. Both set up what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Debian packages the tests start for real (nginx, haproxy, ...), installed when missing.
# chromium opens the HTML reports (driven by playwright's Python package, whose own
# browser downloads are not used); chromium-driver serves WebDriver clients.
DEBIAN_PACKAGES := nginx haproxy goaccess chromium chromium-driver fonts-dejavu-core

.PHONY: demo test test-deps lint bench bench-quick docs report-example clean fuzz

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

# Diagnose every example: the target and namespace come from its expected.yaml (which the
# tests check too), the bundle is every other file. Exit 1 ("a cause was found") is what
# the demo is for; exit 2 (unusable input) stops it.
demo: $(STAMP)
	@for d in examples/*; do \
		target=$$(awk '$$1 == "target:" {print $$2}' $$d/expected.yaml); \
		namespace=$$(awk '$$1 == "namespace:" {print $$2}' $$d/expected.yaml); \
		bundle=$$(find $$d -maxdepth 1 -type f ! -name expected.yaml | sort | xargs); \
		echo "$$ why5xx diagnose $$target -n $$namespace --bundle $$bundle"; \
		$(BIN)/why5xx diagnose $$target -n $$namespace --bundle $$bundle --no-color; \
		code=$$?; [ $$code -le 1 ] || exit $$code; \
		echo; \
	done

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test-deps: $(STAMP)
	@missing=""; for p in $(DEBIAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" != 0 ]; then \
			echo "make test needs the Debian packages$$missing, and only root can install them:"; \
			echo "  sudo apt-get install -y --no-install-recommends$$missing"; \
			exit 1; \
		fi; \
		echo "installing Debian packages:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

test: test-deps lint
	$(BIN)/python -m pytest

# The fuzzing suite with fresh random examples, many more than `make test` runs
# (WHY5XX_FUZZ=deep: tests/test_fuzz.py), and the statistics of each test.
fuzz: $(STAMP)
	WHY5XX_FUZZ=deep $(BIN)/python -m pytest tests/test_fuzz.py -p no:cacheprovider --hypothesis-show-statistics

docs: $(STAMP)
	$(BIN)/python -m why5xx.docs docs/rules
	$(BIN)/python -m why5xx.lint.docs docs/lint

# The README's example report: a rollout without a preStop drain, with its ingress-nginx
# logs (docs/report/rollout/), as HTML and as Chromium shows it (exit 1: a cause was found).
INCIDENT := docs/report/rollout
report-example: test-deps
	$(BIN)/why5xx diagnose checkout -n shop --bundle $(INCIDENT)/shop.yaml \
		--logs $(INCIDENT)/access.log $(INCIDENT)/error.log -o html > docs/report/incident.html; \
		[ $$? -le 1 ]
	$(BIN)/why5xx diagnose checkout -n shop --bundle $(INCIDENT)/shop.yaml \
		--logs $(INCIDENT)/access.log $(INCIDENT)/error.log -o markdown > docs/report/incident.md; \
		[ $$? -le 1 ]
	cd tests && ../$(BIN)/python -m reports.screenshot ../docs/report/incident.html ../docs/report/incident.png

bench: $(STAMP)
	$(BIN)/python bench/run.py
	$(BIN)/python bench/yaml_bench.py
	$(BIN)/python bench/logs_bench.py
	$(BIN)/python bench/live_bench.py
	$(BIN)/python bench/lint_bench.py
	$(BIN)/python bench/lint_corpus.py
	$(BIN)/python bench/report_bench.py
	$(BIN)/python bench/watch_bench.py
	$(BIN)/why5xx bench --no-color
	$(BIN)/why5xx bench --generate 2000 --seed 7 --no-color

# Start-up and one small diagnosis, under a minute: for everyday use.
bench-quick: $(STAMP)
	$(BIN)/python bench/run.py --quick --runs 5

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
