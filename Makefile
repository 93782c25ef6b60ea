# Everything a fresh clone needs, from Python 3.11 and pip alone.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck docs pytest bench audit clean docker-check reference

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade "pip==26.3"

# The torch extra too: the tests compare every embedding backend against torch and export the ONNX files.
$(STAMP): pyproject.toml $(BIN)/python
	$(BIN)/pip install --quiet -e ".[test,torch]"
	touch $(STAMP)

demo: $(STAMP)  ## Run the pipeline once on the bundled sample feed and print delivered alerts.
	$(BIN)/tripwire demo --log-level WARNING

test: lint typecheck docs pytest  ## The whole test suite: ruff, mypy, the docs site (--strict), pytest (slow tests included).

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy shared services tripwire bench

# --strict: a broken link, a page missing from the nav or a stale anchor fails the build.
docs: $(STAMP)  ## Build the docs site into build/site.
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

pytest: $(STAMP)
	$(BIN)/python -m pytest

docker-check: $(STAMP)  ## The Docker stack without Docker: compose file, Dockerfile (hadolint), the stack end to end.
	$(BIN)/python -m pytest tests/docker

reference: $(STAMP)  ## Rewrite the docs' generated reference pages (configuration, command line) from the code.
	$(BIN)/python -m tripwire.reference_pages --write

bench: $(STAMP)  ## Every benchmark under bench/, one report.
	$(BIN)/python -m bench

audit: $(STAMP)  ## Known vulnerabilities in the installed pinned dependencies, and ruff's security rules (bandit set).
	$(BIN)/python .ci/audit_deps.py
	$(BIN)/ruff check --select S .

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .tripwire build
