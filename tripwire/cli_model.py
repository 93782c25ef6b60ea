"""``tripwire model build``: export the configured backend's ONNX file into classifier.model_cache ahead of time."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shared.config import Settings

# shared.config.topics.BackendName, written out so the parser loads no config model (a test keeps them equal).
BACKENDS = ("torch", "onnx", "onnx-int8")


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    """Add ``model build``."""
    model = subparsers.add_parser("model", parents=[common], help="prepare the embedding model (ONNX export)")
    actions = model.add_subparsers(dest="action", required=True, metavar="ACTION")
    build = actions.add_parser("build", parents=[common], help="export and check the backend's ONNX file now")
    build.add_argument("--backend", choices=BACKENDS, help="default: classifier.backend")
    build.set_defaults(handler=_build)


async def _build(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from services.classifier.backends import make_embedder

    backend = args.backend or settings.config.classifier.backend
    embedder = await asyncio.to_thread(make_embedder, settings.config, backend)
    model = getattr(embedder, "model", None)  # ONNX backends keep their checked file; torch has none to build
    if model is None:
        print(f"{backend}: nothing to build (the model folder is used as it is)")
    else:
        print(f"{backend}: {model.path} (sha256 {model.sha256})")
    return 0
