"""The plugin: registers this distribution's models with the local server's model zoo.

Found through the entry point ``[project.entry-points.clarimap] models =
"clarimap_models.plugin"``; the server calls :func:`clarimap_register_models` once when it is
created. Each model is registered by its class, so nothing is loaded until it is first used.
"""

from __future__ import annotations

from collections.abc import Callable

import pluggy

from clarimap_models.models import (
    FACE_DETECTION_MODEL_ID,
    GENERAL_EMBEDDING_MODEL_ID,
    GENERAL_MODEL_ID,
    NSFW_MODEL_ID,
    FaceDetectionModel,
    GeneralEmbeddingModel,
    GeneralModel,
    NsfwModel,
)

hookimpl = pluggy.HookimplMarker("clarimap")


@hookimpl
def clarimap_register_models(register: Callable[..., None]) -> None:
    """Register the general, general-embedding, face-detection and NSFW models."""
    register(GENERAL_MODEL_ID, GeneralModel)
    register(GENERAL_EMBEDDING_MODEL_ID, GeneralEmbeddingModel)
    register(FACE_DETECTION_MODEL_ID, FaceDetectionModel)
    register(NSFW_MODEL_ID, NsfwModel)
