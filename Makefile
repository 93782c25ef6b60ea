# Everything a fresh clone needs, from Python 3.11 and pip alone.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck pytest bench audit clean docker-check docker-e2e docker-e2e-quick config-reference

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade "pip==26.3"

# The torch extra too: the tests compare every embedding backend against torch and export the ONNX files.
$(STAMP): pyproject.toml $(BIN)/python
	$(BIN)/pip install --quiet -e ".[test,torch]"
	touch $(STAMP)

demo: $(STAMP)  ## Run the pipeline once on the bundled sample feed and print delivered alerts.
	$(BIN)/tripwire demo --log-level WARNING

test: lint typecheck pytest  ## The whole test suite: ruff, mypy, pytest (slow tests included).

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy shared services tripwire bench

pytest: $(STAMP)
	$(BIN)/python -m pytest

docker-check: $(STAMP)  ## The Docker stack without Docker: compose file, Dockerfile (hadolint), the stack end to end.
	$(BIN)/python -m pytest tests/docker

# As root: installs podman, runc and debootstrap if missing, builds the base images from Debian packages (cached), then
# the image, and runs the stack with Docker Compose v2 through podman's Docker-compatible socket (docs/docker.md).
docker-e2e: $(STAMP)  ## The Docker stack built and run for real: every check printed (about 10 minutes on 2 cores).
	$(BIN)/python -m tests.docker.e2e

docker-e2e-quick: $(STAMP)  ## The core checks only: build, healthy, one signed alert, hardening.
	$(BIN)/python -m tests.docker.e2e --quick

config-reference: $(STAMP)  ## Rewrite README's "Configuration reference" from the config model.
	$(BIN)/python -m tripwire.config_reference --write README.md

bench: $(STAMP)  ## Every benchmark under bench/, one report.
	$(BIN)/python -m bench

audit: $(STAMP)  ## Known vulnerabilities in the installed pinned dependencies, and ruff's security rules (bandit set).
	$(BIN)/python .ci/audit_deps.py
	$(BIN)/ruff check --select S .

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .tripwire
