"""The built-in base embedding of the local server: a small, documented image descriptor.

Until a model plugin supplies a learned general embedding, visual search runs on this
descriptor, so it works with the core server install (Pillow and numpy only). It is not a neural
network and does not pretend to be one: it finds images with similar colours and a similar
coarse layout of light and dark, which is what it is for.

The descriptor of an image (:func:`describe`) is 128 float32 numbers with an L2 norm of 1:

* 64 numbers: the square roots of a colour histogram of the image (each RGB channel cut into 4
  levels, 4 x 4 x 4 bins, counts as fractions of the pixels), times ``1/sqrt(2)``;
* 64 numbers: an 8 x 8 greyscale thumbnail (ITU-R 601 luma), minus its mean, scaled to unit
  norm (all zeros for a flat image), times ``1/sqrt(2)``.

The cosine of two descriptors is therefore half the Bhattacharyya coefficient of the two colour
histograms plus half the Pearson correlation of the two thumbnails: 1.0 for the same picture,
about 0.5 for pictures with the same colours and unrelated layouts, and never below -0.5.

:data:`BUILTIN` is the base embedding a new server starts with
(``ServerApp.base_embedding``); :func:`processing_step` is the (two-phase) processing step that
stores every new input's vector in ``input_embeddings`` under the base embedding's model id. A model plugin
replaces the base embedding by assigning another :class:`EmbeddingModel` to
``ServerApp.base_embedding``; search then reads the vectors stored under that model's id.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from PIL.Image import Image

    from clarimap.server.app import ServerApp
    from clarimap.server.processing import ProcessingStep

Vector = npt.NDArray[np.float32]

BUILTIN_MODEL_ID = "clarimap-image-descriptor"
"""The model id the built-in descriptor's vectors are stored under."""

DIMENSIONS = 128
HISTOGRAM_LEVELS = 4
GRID_SIZE = 8
_WORKING_SIZE = 64  # images are reduced to 64 x 64 pixels before they are described
_HALF = 1.0 / math.sqrt(2.0)


@attrs.frozen
class EmbeddingModel:
    """An embedding model the server can run on an image: its model id and its function."""

    model_id: str
    embed: Callable[[Image], Vector]
    dimensions: int


def describe(image: Image) -> Vector:
    """The built-in descriptor of ``image`` (see the module docstring): 128 float32, L2 norm 1."""
    from PIL import Image as PILImage

    if image.mode != "RGB":
        image = image.convert("RGB")
    small = image.resize((_WORKING_SIZE, _WORKING_SIZE), PILImage.Resampling.BILINEAR)
    pixels = np.asarray(small, dtype=np.float64).reshape(-1, 3)

    levels = np.minimum((pixels * HISTOGRAM_LEVELS / 256.0).astype(np.int64), HISTOGRAM_LEVELS - 1)
    bins = (levels[:, 0] * HISTOGRAM_LEVELS + levels[:, 1]) * HISTOGRAM_LEVELS + levels[:, 2]
    histogram = np.bincount(bins, minlength=HISTOGRAM_LEVELS**3) / len(bins)
    colour_part = np.sqrt(histogram)  # unit L2 norm, since the fractions sum to 1

    luma = pixels @ np.array([0.299, 0.587, 0.114])
    cells = _WORKING_SIZE // GRID_SIZE
    grid = luma.reshape(GRID_SIZE, cells, GRID_SIZE, cells).mean(axis=(1, 3)).ravel()
    grid = grid - grid.mean()
    norm = float(np.linalg.norm(grid))
    layout_part = grid / norm if norm > 1e-9 else np.zeros_like(grid)

    vector = np.concatenate([colour_part * _HALF, layout_part * _HALF])
    total = float(np.linalg.norm(vector))
    if total > 0:
        vector = vector / total
    return vector.astype(np.float32)


BUILTIN = EmbeddingModel(model_id=BUILTIN_MODEL_ID, embed=describe, dimensions=DIMENSIONS)
"""The built-in descriptor as the server's base embedding."""


def to_blob(vector: Vector) -> bytes:
    """The bytes a vector is stored as in ``input_embeddings.vector`` (float32, native order)."""
    return np.ascontiguousarray(vector, dtype=np.float32).tobytes()


def processing_step(server: ServerApp) -> ProcessingStep:
    """The processing step storing each new input's base embedding (registered by the server).

    Two-phase (:class:`clarimap.server.processing.ProcessingStep`): ``compute`` runs the base
    embedding model outside the store's lock, ``write`` stores the vector under that model's id.
    """
    from clarimap.server.processing import ProcessingStep

    def embed(image: Image) -> tuple[str, Vector]:
        model = server.base_embedding
        return model.model_id, model.embed(image)

    def store(connection: sqlite3.Connection, seq: int, app_pk: int, result: Any) -> None:
        model_id, vector = result
        connection.execute(
            "INSERT OR REPLACE INTO input_embeddings (seq, model_id, vector) VALUES (?, ?, ?)",
            (seq, model_id, to_blob(vector)),
        )

    return ProcessingStep(name="base-embedding", compute=embed, write=store)
