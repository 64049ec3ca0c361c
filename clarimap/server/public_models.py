"""The public models the local server lists under user ``clarifai``, app ``main``.

These are the ids the legacy 2.6.2 client hard-codes (wire reference, section 9). The server
lists them in ``GET /v2/models`` from every app, answers ``GET /v2/models/{id}`` for them from
every app and under ``/v2/users/clarifai/apps/main/...``, and refuses to patch or delete them.
Whether one of them can predict is decided by the model zoo: this module only describes them.

Used by :mod:`clarimap.server.api_models` and :mod:`clarimap.server.api_workflows`.
"""

from __future__ import annotations

import uuid

import attrs

PUBLIC_USER_ID = "clarifai"
PUBLIC_APP_ID = "main"

# One fixed creation time for every public model and version (listings stay byte-identical).
PUBLIC_CREATED_AT = "2016-06-01T00:00:00.000000Z"

_VERSION_NAMESPACE = uuid.UUID("7f1f6c1e-4a43-4d55-9a51-3c1f2b9b8d10")


@attrs.frozen
class PublicModel:
    """A public model: its id, name, legacy type pair and modern ``model_type_id``.

    ``display_name`` is a second name model searches match (``face`` finds both face models, as
    the 2.6.2 client's ``app.models.get("face")`` and ``get("face", model_type="embed")`` need).
    """

    key: str  # the attribute name 2.6.2 gives it in ``app.public_models``
    id: str
    name: str
    type: str
    type_ext: str
    model_type_id: str
    display_name: str = ""

    @property
    def version_id(self) -> str:
        """The id of the model's one version: stable across servers and restarts."""
        return uuid.uuid5(_VERSION_NAMESPACE, self.id).hex


PUBLIC_MODELS: tuple[PublicModel, ...] = (
    PublicModel(
        "general",
        "aaa03c23b3724a16a56b629203edc62c",
        "general-v1.3",
        "concept",
        "concept",
        "visual-classifier",
    ),
    PublicModel(
        "color", "eeed0b6733a644cea07cf4c60f87ebb7", "color", "color", "color", "visual-classifier"
    ),
    PublicModel(
        "face_detection",
        "a403429f2ddf4b49b307e318f00e528b",
        "face-v1.3",
        "facedetect",
        "facedetect",
        "visual-detector",
        display_name="face",
    ),
    PublicModel(
        "face_embedding",
        "d02b4508df58432fbb84e800597b8959",
        "face-embedding",
        "embed",
        "detect-embed",
        "visual-embedder",
        display_name="face",
    ),
    PublicModel(
        "general_embedding",
        "bbb5f41425b8468d9b7a554ff10f8581",
        "general-embedding",
        "embed",
        "embed",
        "visual-embedder",
    ),
    PublicModel(
        "demographics",
        "c0c0ac362b03416da06ab3fa36fb58e3",
        "demographics",
        "facedetect",
        "facedetect-demographics",
        "visual-detector",
    ),
    PublicModel(
        "celebrity",
        "e466caa0619f444ab97497640cefc4dc",
        "celeb-v1.3",
        "facedetect",
        "facedetect-identity",
        "visual-detector",
    ),
    PublicModel(
        "apparel",
        "e0be3b9d6a454f0493ac3a30784001ff",
        "apparel",
        "concept",
        "concept",
        "visual-classifier",
    ),
    PublicModel(
        "focus", "c2cf7cecd8a6427da375b9f35fcd2381", "focus", "focus", "focus", "visual-classifier"
    ),
    PublicModel(
        "food",
        "bd367be194cf45149e75f01d59f77ba7",
        "food-items-v1.0",
        "concept",
        "concept",
        "visual-classifier",
    ),
    PublicModel(
        "landscape_quality",
        "bec14810deb94c40a05f1f0eb3c91403",
        "landscape-quality",
        "concept",
        "concept",
        "visual-classifier",
    ),
    PublicModel(
        "logo",
        "c443119bf2ed4da98487520d01a0b1e3",
        "logo",
        "detect",
        "detect-concept",
        "visual-detector",
    ),
    PublicModel(
        "moderation",
        "d16f390eb32cad478c7ae150069bd2c6",
        "moderation",
        "concept",
        "concept",
        "visual-classifier",
    ),
    PublicModel(
        "nsfw",
        "e9576d86d2004ed1a38ba0cf39ecb4b1",
        "nsfw-v1.0",
        "concept",
        "concept",
        "visual-classifier",
    ),
    PublicModel(
        "portrait_quality",
        "de9bd05cfdbf4534af151beb2a5d0953",
        "portrait-quality",
        "concept",
        "concept",
        "visual-classifier",
    ),
    PublicModel(
        "textures_and_patterns",
        "fbefb47f9fdb410e8ce14f24f54b47ff",
        "texture",
        "concept",
        "concept",
        "visual-classifier",
    ),
    PublicModel(
        "travel",
        "eee28c313d69466f836ab83287a54ed9",
        "travel-v1.0",
        "concept",
        "concept",
        "visual-classifier",
    ),
    PublicModel(
        "wedding",
        "c386b7a870114f4a87477c0824499348",
        "weddings-v1.0",
        "concept",
        "concept",
        "visual-classifier",
    ),
)

PUBLIC_MODELS_BY_ID: dict[str, PublicModel] = {model.id: model for model in PUBLIC_MODELS}


def public_model(model_id: str) -> PublicModel | None:
    """The public model with id ``model_id``, or None."""
    return PUBLIC_MODELS_BY_ID.get(model_id)
