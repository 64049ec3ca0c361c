"""The registry of models the local server can run: built-ins first, then the model plugins.

A runnable model is any object with the attributes of :class:`RunnableModel` and a ``predict``
method that turns a batch of PIL images into one wire ``data`` object each (``{"concepts":
[...]}``, ``{"colors": [...]}``, ``{"regions": [...]}``, ``{"embeddings": [...]}``). Concept
models return every concept they know, best first; the predict endpoint applies the request's
output config (:mod:`clarimap.server.api_predict`).

Plugins add models through the hook ``clarimap_register_models(register)``; ``register`` takes a
model id and either a model object or a factory (a class, or any callable without arguments)
that builds the model on first use; loading weights is slow, so plugins should prefer the
factory form::

    @hookimpl
    def clarimap_register_models(register):
        register(GENERAL_MODEL_ID, GeneralModel)          # built on the first predict
        register("my-model", MyCheapModel())

A public model of the wire reference (section 9) that no installed plugin provides answers
``21200 Model does not exist`` with a description naming the distribution that provides it
(:data:`PLUGIN_FOR_MODEL`). Setting ``CLARIMAP_DISABLE_PLUGINS=1`` leaves only the built-ins.

Called by the predict, workflow and training handlers and by input processing (the app's base
model), each through :func:`zoo_for`.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import weakref
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import attrs

from clarimap.server import status
from clarimap.server.errors import ApiError

if TYPE_CHECKING:
    from PIL import Image

    from clarimap.server.app import ServerApp
    from clarimap.server.processing import ProcessingStep

log = logging.getLogger("clarimap.server.modelzoo")

GENERAL_MODEL_ID = "aaa03c23b3724a16a56b629203edc62c"
COLOR_MODEL_ID = "eeed0b6733a644cea07cf4c60f87ebb7"
FACE_DETECTION_MODEL_ID = "a403429f2ddf4b49b307e318f00e528b"
GENERAL_EMBEDDING_MODEL_ID = "bbb5f41425b8468d9b7a554ff10f8581"
NSFW_MODEL_ID = "e9576d86d2004ed1a38ba0cf39ecb4b1"

MODELS_PLUGIN = "clarimap-models"
"""The distribution in ``plugins/clarimap-models`` (``pip install ./plugins/clarimap-models``)."""

PLUGIN_FOR_MODEL: dict[str, str] = {
    GENERAL_MODEL_ID: MODELS_PLUGIN,
    GENERAL_EMBEDDING_MODEL_ID: MODELS_PLUGIN,
    FACE_DETECTION_MODEL_ID: MODELS_PLUGIN,
    NSFW_MODEL_ID: MODELS_PLUGIN,
}
"""Public model id -> the plugin distribution that makes it runnable."""

DISABLE_PLUGINS_ENV = "CLARIMAP_DISABLE_PLUGINS"


@attrs.frozen
class PredictConfig:
    """The output config of a predict request (wire reference, section 8), validated."""

    min_value: float | None = None
    max_concepts: int = 0
    select_concepts: tuple[dict[str, str], ...] = ()
    language: str | None = None
    sample_ms: int = 1000


@runtime_checkable
class RunnableModel(Protocol):
    """What the zoo holds: a model's identity and type, its concepts and its ``predict``."""

    model_id: str
    name: str
    type: str
    """The legacy type: ``concept``, ``color``, ``embed``, ``facedetect``, ``detect-concept``."""
    type_ext: str
    model_type_id: str
    """The current API's type (``visual-classifier``, ``visual-embedder``, ``visual-detector``)."""
    concepts: Sequence[dict[str, str]]
    """Every concept the model can output (``{"id", "name"}``); empty for other types."""

    def predict(self, images: Sequence[Image.Image], config: PredictConfig) -> list[dict[str, Any]]:
        """One wire ``data`` object per image, in order."""
        ...


ModelFactory = Callable[[], RunnableModel]


class ModelZoo:
    """Runnable models by id; each is built on first use and kept."""

    def __init__(self) -> None:
        self._factories: dict[str, ModelFactory] = {}
        self._models: dict[str, RunnableModel] = {}
        self._lock = threading.Lock()

    def register(self, model_id: str, model: RunnableModel | ModelFactory) -> None:
        """Add a model (an object, or a factory building it on first use); a later one wins."""
        if not isinstance(model_id, str) or not model_id:
            raise TypeError(
                f"register(model_id, model): model_id must be a string, not {model_id!r}"
            )
        with self._lock:
            if not isinstance(model, type) and isinstance(model, RunnableModel):
                self._check_id(model_id, model)
                self._models[model_id] = model
                self._factories.pop(model_id, None)
            elif callable(model):
                self._factories[model_id] = model
                self._models.pop(model_id, None)
            else:
                raise TypeError(
                    f"register({model_id!r}, {model!r}): not a runnable model nor a factory "
                    "(see clarimap.server.modelzoo.RunnableModel)"
                )

    @staticmethod
    def _check_id(model_id: str, model: RunnableModel) -> None:
        if model.model_id != model_id:
            raise ValueError(
                f"model registered as {model_id!r} says its model_id is {model.model_id!r}"
            )

    def ids(self) -> list[str]:
        """The ids of every registered model."""
        with self._lock:
            return sorted({*self._models, *self._factories})

    def __contains__(self, model_id: object) -> bool:
        return model_id in self._models or model_id in self._factories

    def get(self, model_id: str) -> RunnableModel | None:
        """The model ``model_id`` (built now if it was registered with a factory), or None."""
        with self._lock:
            model = self._models.get(model_id)
            if model is not None:
                return model
            factory = self._factories.get(model_id)
            if factory is None:
                return None
            model = factory()
            if not isinstance(model, RunnableModel):
                raise TypeError(f"the factory of model {model_id!r} built {model!r}, not a model")
            self._check_id(model_id, model)
            self._models[model_id] = model
            del self._factories[model_id]
            return model

    def require(self, model_id: str) -> RunnableModel:
        """The model ``model_id``, or the ``21200`` error saying what to install."""
        model = self.get(model_id)
        if model is None:
            raise missing_model_error(model_id)
        return model


def missing_model_error(model_id: str) -> ApiError:
    """``21200 Model does not exist``; for a public model, naming the plugin that provides it."""
    plugin = PLUGIN_FOR_MODEL.get(model_id)
    if plugin is not None:
        return ApiError(
            status.MODEL_DOES_NOT_EXIST,
            f"model {model_id!r} is provided by the plugin distribution {plugin!r}, which is not "
            f"installed on this server: pip install ./plugins/{plugin} (or pip install {plugin}) "
            "and restart the server",
            description=f"Model does not exist: install the {plugin} plugin",
        )
    return ApiError(status.MODEL_DOES_NOT_EXIST, f"no model with id {model_id!r} on this server")


def plugins_disabled() -> bool:
    """True when ``CLARIMAP_DISABLE_PLUGINS`` is set to a true value."""
    return os.environ.get(DISABLE_PLUGINS_ENV, "").strip().lower() not in ("", "0", "false", "no")


def register_builtin_models(register: Callable[..., None]) -> None:
    """Register the models that ship with the core server (the colour model)."""
    from clarimap.server.color import ColorModel

    register(COLOR_MODEL_ID, ColorModel())


def build_zoo(*, plugins: bool = True) -> ModelZoo:
    """A zoo with the built-ins, then (unless ``plugins`` is false or disabled) the plugins'."""
    zoo = ModelZoo()
    register_builtin_models(zoo.register)
    if plugins and not plugins_disabled():
        _register_plugin_models(zoo.register)
    return zoo


def _register_plugin_models(register: Callable[..., None]) -> None:
    """Call every plugin's ``clarimap_register_models`` with ``register``."""
    from clarimap.plugins import register_models

    register_models(register)


_ZOOS: weakref.WeakKeyDictionary[ServerApp, ModelZoo] = weakref.WeakKeyDictionary()
_ZOOS_LOCK = threading.Lock()


def zoo_for(server: ServerApp) -> ModelZoo:
    """The zoo of ``server`` (built with the installed plugins on first use)."""
    with _ZOOS_LOCK:
        zoo = _ZOOS.get(server)
        if zoo is None:
            zoo = build_zoo()
            _ZOOS[server] = zoo
        return zoo


def set_zoo(server: ServerApp, zoo: ModelZoo) -> None:
    """Give ``server`` this zoo (tests build one without plugins, for example)."""
    with _ZOOS_LOCK:
        _ZOOS[server] = zoo


def install(server: ServerApp, zoo: ModelZoo | None = None) -> ModelZoo:
    """Give ``server`` its zoo and make the zoo's general models the app's base models.

    When the general embedding is installed it becomes ``server.base_embedding`` (visual search
    compares its vectors); when the general concept model is, it becomes
    ``server.base_concept_model_id`` and a processing step stores its predictions for every new
    input in ``input_predictions`` (search by predicted concept reads them). Called by
    :func:`clarimap.server.app.create_app`.
    """
    zoo = zoo if zoo is not None else build_zoo()
    set_zoo(server, zoo)
    embedder = zoo.get(GENERAL_EMBEDDING_MODEL_ID) if GENERAL_EMBEDDING_MODEL_ID in zoo else None
    embed_images = getattr(embedder, "embed_images", None)
    if embedder is not None and embed_images is not None:
        from clarimap.server.embedding import EmbeddingModel

        def embed(image: Image.Image) -> Any:
            return embed_images([image])[0]

        server.base_embedding = EmbeddingModel(
            model_id=GENERAL_EMBEDDING_MODEL_ID,
            embed=embed,
            dimensions=int(getattr(embedder, "dimensions", 0)),
        )
    if GENERAL_MODEL_ID in zoo:
        server.base_concept_model_id = GENERAL_MODEL_ID
        server.processing_steps.append(base_prediction_step(zoo, GENERAL_MODEL_ID))
    return zoo


BASE_PREDICTIONS_KEPT = 20
"""How many of the base model's best concepts are stored for each input."""


def base_prediction_step(zoo: ModelZoo, model_id: str) -> ProcessingStep:
    """A processing step storing the best concepts of model ``model_id`` for each new input.

    Two-phase (:class:`clarimap.server.processing.ProcessingStep`): the model predicts outside
    the store's lock, and only the :data:`BASE_PREDICTIONS_KEPT` best concepts are written.
    """
    from clarimap.server.processing import ProcessingStep

    def predict(image: Image.Image) -> list[tuple[str, float]]:
        model = zoo.require(model_id)
        data = model.predict([image], PredictConfig())[0]
        concepts = (data.get("concepts") or [])[:BASE_PREDICTIONS_KEPT]
        return [(str(concept["id"]), float(concept["value"])) for concept in concepts]

    def store(connection: sqlite3.Connection, seq: int, app_pk: int, result: Any) -> None:
        connection.execute(
            "DELETE FROM input_predictions WHERE seq = ? AND model_id = ?", (seq, model_id)
        )
        connection.executemany(
            "INSERT OR REPLACE INTO input_predictions (seq, model_id, concept_id, value) "
            "VALUES (?, ?, ?, ?)",
            [(seq, model_id, concept_id, value) for concept_id, value in result],
        )

    return ProcessingStep(name=f"base-predictions ({model_id})", compute=predict, write=store)
