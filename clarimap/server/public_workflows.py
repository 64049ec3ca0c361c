"""The public workflows the local server offers under user ``clarifai``, app ``main``.

Each is built from public models the local server can run (the colour model ships with the core
server; the general, embedding, face and NSFW models come from the ``clarimap-models`` plugin).
A workflow is offered only while the server's model zoo holds every one of its models, so a
workflow never answers with invented output: with plugins disabled only ``Color`` remains.

They are not stored: ``GET /v2/public_workflows`` lists them, ``GET /v2/workflows/{id}`` and
``POST /v2/workflows/{id}/results`` find them from every app (an app's own workflow of the same
id wins) and under ``/v2/users/clarifai/apps/main/...``; they cannot be changed.

Used by :mod:`clarimap.server.api_workflows` and :mod:`clarimap.server.api_predict`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs

from clarimap.server.modelzoo import (
    COLOR_MODEL_ID,
    FACE_DETECTION_MODEL_ID,
    GENERAL_EMBEDDING_MODEL_ID,
    GENERAL_MODEL_ID,
    NSFW_MODEL_ID,
    PLUGIN_FOR_MODEL,
    zoo_for,
)
from clarimap.server.public_models import (
    PUBLIC_APP_ID,
    PUBLIC_CREATED_AT,
    PUBLIC_USER_ID,
    public_model,
)

if TYPE_CHECKING:
    from clarimap.server.app import ServerApp


@attrs.frozen
class PublicWorkflow:
    """A public workflow: its id and its nodes as ``(node id, public model id)`` pairs."""

    id: str
    nodes: tuple[tuple[str, str], ...]
    description: str

    @property
    def model_ids(self) -> tuple[str, ...]:
        return tuple(model_id for _, model_id in self.nodes)

    def json(self) -> dict[str, Any]:
        """The workflow's wire JSON (nodes pin each public model's one version)."""
        nodes = []
        for node_id, model_id in self.nodes:
            model = public_model(model_id)
            assert model is not None, model_id
            nodes.append(
                {
                    "id": node_id,
                    "model": {
                        "id": model.id,
                        "name": model.name,
                        "app_id": PUBLIC_APP_ID,
                        "user_id": PUBLIC_USER_ID,
                        "model_type_id": model.model_type_id,
                        "model_version": {"id": model.version_id},
                    },
                }
            )
        return {
            "id": self.id,
            "app_id": PUBLIC_APP_ID,
            "user_id": PUBLIC_USER_ID,
            "created_at": PUBLIC_CREATED_AT,
            "modified_at": PUBLIC_CREATED_AT,
            "nodes": nodes,
            "description": self.description,
        }


PUBLIC_WORKFLOWS: tuple[PublicWorkflow, ...] = (
    PublicWorkflow(
        "General",
        (
            ("general-concept", GENERAL_MODEL_ID),
            ("general-embed", GENERAL_EMBEDDING_MODEL_ID),
            ("color", COLOR_MODEL_ID),
        ),
        "The general concept model, the general embedding and the colour model",
    ),
    PublicWorkflow("Color", (("color", COLOR_MODEL_ID),), "The colour model"),
    PublicWorkflow("Face", (("face-detect", FACE_DETECTION_MODEL_ID),), "The face detection model"),
    PublicWorkflow("NSFW", (("nsfw", NSFW_MODEL_ID),), "The NSFW model"),
)

PUBLIC_WORKFLOWS_BY_ID: dict[str, PublicWorkflow] = {w.id: w for w in PUBLIC_WORKFLOWS}


def missing_models(server: ServerApp, workflow: PublicWorkflow) -> list[str]:
    """The ids of the workflow's models that the server's model zoo cannot run."""
    zoo = zoo_for(server)
    return [model_id for model_id in workflow.model_ids if model_id not in zoo]


def available_workflows(server: ServerApp) -> list[PublicWorkflow]:
    """The public workflows whose every model the server can run, in a fixed order."""
    return [w for w in PUBLIC_WORKFLOWS if not missing_models(server, w)]


def public_workflow(server: ServerApp, workflow_id: str) -> PublicWorkflow | None:
    """The public workflow ``workflow_id`` if the server can run all of it, else None."""
    workflow = PUBLIC_WORKFLOWS_BY_ID.get(workflow_id)
    if workflow is None or missing_models(server, workflow):
        return None
    return workflow


def unavailable_reason(server: ServerApp, workflow_id: str) -> str:
    """Why the public workflow ``workflow_id`` is not offered ("" if it is, or is unknown)."""
    workflow = PUBLIC_WORKFLOWS_BY_ID.get(workflow_id)
    missing = missing_models(server, workflow) if workflow is not None else []
    if not missing:
        return ""
    plugins = sorted({PLUGIN_FOR_MODEL.get(model_id, "?") for model_id in missing})
    return (
        f"; the public workflow {workflow_id!r} needs models this server cannot run "
        f"({', '.join(missing)}): install the plugin {', '.join(plugins)} and restart the server"
    )
