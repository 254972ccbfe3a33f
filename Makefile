# Two commands do all the set-up: `make demo` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
RESULTS ?= results

.PHONY: install demo test suites lint sysdeps bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)  ## create .venv and install the harness with its test tools

demo: $(STAMP)  ## run the example suite on the virtual bench; FAULT=name switches a seeded BCM fault on
	@mkdir -p $(RESULTS)
	$(BIN)/pytest testsuites/examples --bench fixtures/benches/virtual.toml \
		$(if $(FAULT),--bench-set 'simulation.ecus.bcm.faults=["$(FAULT)"]') \
		--harness-results $(RESULTS) --harness-keep-traces all \
		--junitxml=$(RESULTS)/junit.xml -p no:cacheprovider -q ; status=$$?; \
	echo "HTML report: $(RESULTS)/latest/report.html  JUnit: $(RESULTS)/latest/junit.xml"; \
	echo "traces: $(RESULTS)/latest/traces/  results store: $(RESULTS)/harness.sqlite"; \
	echo "history of the part: $(BIN)/harness results dut BCM-DEMO-0001"; exit $$status

lint: $(STAMP)  ## ruff, mypy and the import-linter layer contracts
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint sysdeps  ## lint, the framework's own tests, then every conformance suite on the virtual bench
	$(BIN)/pytest -n auto -q
	$(MAKE) --no-print-directory suites

# Two pytest-xdist workers, each with its own in-process virtual bench: the suites mostly
# wait on timers and cycle times, so two at a time halve the wall time (100 s -> 58 s).
suites: $(STAMP)  ## every conformance suite on the virtual bench, j1939 on the virtual J1939 bench (no fault: all must pass)
	$(BIN)/harness run all --bench fixtures/benches/virtual.toml -q -p no:cacheprovider \
		--harness-results none -n 2
	$(BIN)/harness run j1939 --bench fixtures/benches/virtual-j1939.toml -q -p no:cacheprovider \
		--harness-results none

sysdeps:  ## Debian packages some tests use (chromium, postgresql), installed when missing
	@bash .ci/system-deps

bench: $(STAMP)  ## performance figures (see benchmarks/README.md)
	$(BIN)/python benchmarks/run.py
	$(BIN)/python benchmarks/residual.py

clean:
	rm -rf $(VENV) $(RESULTS) .mypy_cache .ruff_cache .pytest_cache
