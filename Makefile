# Two commands do everything on a fresh machine with Python 3.11:
#   make demo   set up .venv and run the whole workflow on the embedded demo
#   make test   set up .venv and run the test suite
#   make rehearsal  paper.yaml's protocol on study-sized synthetic inputs, SCALE of it, and its cost
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.xlser-installed
CORES  ?= all
SCALE  ?= 0.01

.PHONY: demo test venv lint bench mutants clean rehearsal chromium

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/snakemake --cores $(CORES)

test: $(STAMP) chromium
	$(BIN)/python -m pytest -q -n auto --maxprocesses 4

# The browser test (tests/report/test_report_browser.py) opens the report in Debian's chromium:
# installed when missing and apt-get can run (root or password-less sudo; about 1 min), else
# that one test is skipped.
chromium:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; else SUDO=no; fi; \
	  if [ "$$SUDO" != no ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing chromium (apt-get) for the browser test"; \
	    $$SUDO apt-get update -qq && $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null \
	      || echo "chromium could not be installed: the browser test will be skipped"; \
	  else echo "no chromium, and apt-get cannot install it here: the browser test will be skipped"; fi; }

# not part of `make test`: writes rehearsal/ (inputs, results/tables/cost.csv), docs/usage.md, Rehearsal
rehearsal: $(STAMP)
	$(BIN)/python tools/rehearsal.py --scale $(SCALE) --cores $(CORES)

# also part of `make test` (tests/workflow/test_lint.py)
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakefmt --check Snakefile workflow/
	$(BIN)/snakemake --lint

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_features.py
	$(BIN)/python benchmarks/bench_peft.py
	$(BIN)/python benchmarks/bench_probe.py

mutants: $(STAMP)
	$(BIN)/python tools/mutants.py

clean:
	rm -rf results logs resources .snakemake rehearsal rehearsal-gpu
