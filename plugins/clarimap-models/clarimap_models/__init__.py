"""clarimap-models: real offline image models for clarimap's local server.

Installs the general concept model (ImageNet-1000, EfficientNet-Lite0), the general embedding,
face detection and NSFW under the public model ids of the Clarifai API; see README.md.
"""

from clarimap_models.models import (
    FaceDetectionModel,
    GeneralEmbeddingModel,
    GeneralModel,
    NsfwModel,
    imagenet_labels,
)

__version__ = "0.1.0"

__all__ = [
    "FaceDetectionModel",
    "GeneralEmbeddingModel",
    "GeneralModel",
    "NsfwModel",
    "__version__",
    "imagenet_labels",
]
