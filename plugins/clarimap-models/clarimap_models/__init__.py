"""clarimap-models: real offline image models for clarimap's local server.

Installs the general concept model (ImageNet-1000, EfficientNet-Lite0), the general embedding,
face detection and NSFW under the public model ids of the Clarifai API; see README.md. The model
classes are imported on first access, so importing this package stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "FaceDetectionModel",
    "GeneralEmbeddingModel",
    "GeneralModel",
    "NsfwModel",
    "imagenet_labels",
}

__all__ = [
    "FaceDetectionModel",
    "GeneralEmbeddingModel",
    "GeneralModel",
    "NsfwModel",
    "__version__",
    "imagenet_labels",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module("clarimap_models.models"), name)
    raise AttributeError(f"module 'clarimap_models' has no attribute {name!r}")
