"""The plugin: registers this distribution's models with the local server's model zoo.

Found through the entry point ``[project.entry-points.clarimap] models =
"clarimap_models.plugin"``; the server calls :func:`clarimap_register_models` once when it is
created. Each model is registered by a factory that imports :mod:`clarimap_models.models` when
the model is first built, so loading the plugin imports neither numpy, Pillow nor onnxruntime.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import pluggy

from clarimap_models.ids import (
    FACE_DETECTION_MODEL_ID,
    GENERAL_EMBEDDING_MODEL_ID,
    GENERAL_MODEL_ID,
    NSFW_MODEL_ID,
)

hookimpl = pluggy.HookimplMarker("clarimap")


def _factory(class_name: str) -> Callable[[], Any]:
    """A factory building ``clarimap_models.models.<class_name>()`` on first use."""

    def build() -> Any:
        return getattr(importlib.import_module("clarimap_models.models"), class_name)()

    build.__qualname__ = build.__name__ = f"build_{class_name}"
    return build


@hookimpl
def clarimap_register_models(register: Callable[..., None]) -> None:
    """Register the general, general-embedding, face-detection and NSFW models."""
    register(GENERAL_MODEL_ID, _factory("GeneralModel"))
    register(GENERAL_EMBEDDING_MODEL_ID, _factory("GeneralEmbeddingModel"))
    register(FACE_DETECTION_MODEL_ID, _factory("FaceDetectionModel"))
    register(NSFW_MODEL_ID, _factory("NsfwModel"))
