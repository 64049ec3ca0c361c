"""The calls behind models and workflows: predict, train, versions, evaluate, inputs, feedback.

Called only by the methods of :class:`~clarimap.entities.Model` and
:class:`~clarimap.entities.Workflow` and by :meth:`Session.create_workflow` /
:meth:`Session.send_search_feedback`. Everything goes through ``session._send``; every wire name
is in :mod:`clarimap.converters`.

* Predict splits more than :data:`MAX_PREDICT_BATCH` inputs into several calls and reads each
  item's status (a ``10010`` mixed answer is not an error: each :class:`Prediction` carries its
  own status; ``raise_on_failure=True`` raises :class:`PredictionError` holding all of them).
* Training and evaluation wait with exponential backoff (:data:`FIRST_POLL_SECONDS` doubling up
  to :data:`LONGEST_POLL_SECONDS`) while the version is queued or running.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from clarimap.converters import (
    feedback_input,
    predict_input,
    predict_output_config,
    structure,
    unstructure,
)
from clarimap.entities import (
    Concept,
    ConceptAnnotation,
    EvaluationMetrics,
    FeedbackInfo,
    Input,
    Model,
    ModelVersion,
    Prediction,
    Region,
    Status,
    Workflow,
    WorkflowNode,
    WorkflowResult,
    check_id,
)
from clarimap.errors import (
    EvaluationError,
    PredictionError,
    SessionError,
    TrainingError,
    ValidationError,
    WaitTimeoutError,
)

if TYPE_CHECKING:
    from clarimap.session import Session

JSON = dict[str, Any]

#: Most inputs one predict call carries; more are split into several calls.
MAX_PREDICT_BATCH = 128
#: Version status codes that mean "still training".
TRAINING_CODES = frozenset({21101, 21103})
#: The one code that means trained.
TRAINED = 21100
#: Metrics status codes that mean "still evaluating".
EVALUATING_CODES = frozenset({21301, 21303})
EVALUATED = 21300
FIRST_POLL_SECONDS = 0.05
LONGEST_POLL_SECONDS = 2.0
#: How many items a page of versions or inputs asks for.
PAGE_SIZE = 100


def session_of(entity: Any) -> Session:
    """The session an entity belongs to; :class:`SessionError` when it has none."""
    session = getattr(entity, "_session", None)
    if session is None:
        kind = type(entity).__name__
        raise SessionError(
            f"{kind} {entity.id!r} is not in a session: get it with session.get({kind}, ...) "
            "or session.add() it first"
        )
    return session  # type: ignore[no-any-return]


def _model_path(model: Model, version_id: str | None, tail: str) -> str:
    path = f"models/{quote(model.id, safe='')}"
    if version_id:
        path += f"/versions/{quote(version_id, safe='')}"
    return f"{path}/{tail}" if tail else path


def _version_id(version: ModelVersion | str | None) -> str | None:
    if version is None:
        return None
    if isinstance(version, ModelVersion):
        return version.id
    return check_id(version, "version id")


def _set_quietly(entity: Any, name: str, value: Any) -> None:
    """Set a server-owned field without marking the entity edited."""
    owner, entity._session = entity._session, None
    try:
        setattr(entity, name, value)
    finally:
        entity._session = owner


def _ready(session: Session, model: Model) -> None:
    """Flush pending changes first, so the server works on the model as the session has it."""
    session._autoflush()
    if model in session.new:
        raise SessionError(
            f"model {model.id!r} is not created yet; flush the session first (autoflush is off)"
        )


# -- predict -------------------------------------------------------------------------------------


def as_predict_input(source: object, kind: str | None = None) -> JSON:
    """The wire input for one source: an :class:`Input` or anything ``resolve_media`` accepts.

    An :class:`Input` with media is sent with its media; one without (``Input(id="photo-1")``,
    or an input of the app read without its bytes) is sent by id, so the server predicts the
    stored input.
    """
    if isinstance(source, Input):
        return predict_input(source, by_id=source.image is None and source.video is None)
    entity = Input.from_media(source, kind=kind)  # type: ignore[arg-type]
    return predict_input(entity)


def _chunks(items: Sequence[JSON], size: int) -> Iterator[Sequence[JSON]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _many(sources: object) -> bool:
    return isinstance(sources, (list, tuple))


def output_config(
    *,
    min_value: float | None,
    max_concepts: int | None,
    select_concepts: Iterable[str | Concept] | None,
    language: str | None,
    sample_ms: int | None,
) -> JSON:
    """Validated predict options as the wire's ``output_config``."""
    if min_value is not None:
        if isinstance(min_value, bool) or not isinstance(min_value, (int, float)):
            raise ValidationError(f"min_value must be a number, got {min_value!r}")
        if not 0.0 <= float(min_value) <= 1.0:
            raise ValidationError(f"min_value must be in [0, 1], got {min_value}")
    if max_concepts is not None and (
        isinstance(max_concepts, bool) or not isinstance(max_concepts, int) or max_concepts < 0
    ):
        raise ValidationError(f"max_concepts must be a whole number >= 0, got {max_concepts!r}")
    if sample_ms is not None and (
        isinstance(sample_ms, bool) or not isinstance(sample_ms, int) or sample_ms <= 0
    ):
        raise ValidationError(
            f"sample_ms must be a whole number of milliseconds > 0, got {sample_ms!r}"
        )
    if language is not None and (not isinstance(language, str) or not language):
        raise ValidationError(f"language must be a language code such as 'en', got {language!r}")
    if isinstance(select_concepts, str):
        raise ValidationError("select_concepts must be a list of concept ids, not one string")
    if select_concepts is not None and not isinstance(select_concepts, Iterable):
        raise ValidationError(
            f"select_concepts must be a list of concept ids, got {type(select_concepts).__name__}"
        )
    selected = [
        check_id(item.id if isinstance(item, Concept) else item, "select_concepts item")
        for item in select_concepts or ()
    ]
    return predict_output_config(
        min_value=min_value,
        max_concepts=max_concepts,
        select_concepts=selected,
        language=language,
        sample_ms=sample_ms,
    )


def predict(
    model: Model,
    sources: object,
    *,
    version: ModelVersion | str | None,
    config: JSON,
    raise_on_failure: bool,
    kind: str | None,
) -> Prediction | list[Prediction]:
    """Run ``model`` on the sources; one :class:`Prediction` each (see :meth:`Model.predict`)."""
    session = session_of(model)
    many = _many(sources)
    items = list(sources) if many else [sources]  # type: ignore[call-overload]
    if not items:
        raise ValidationError("predict() needs at least one input")
    wire_inputs = [as_predict_input(item, kind) for item in items]
    path = _model_path(model, _version_id(version), "outputs")
    predictions: list[Prediction] = []
    try:
        for chunk in _chunks(wire_inputs, MAX_PREDICT_BATCH):
            body: JSON = {"inputs": list(chunk)}
            if config:
                body["model"] = {"output_info": {"output_config": config}}
            answer = session._send("POST", path, body, idempotent=True, allow_partial=True)
            predictions += [structure(output, Prediction) for output in answer.get("outputs") or ()]
            session._report("predict", len(predictions), len(items), f"model {model.id}")
    finally:
        session._report("predict", len(predictions), len(items), "done", finished=True)
    _check_outcomes(predictions, len(items), raise_on_failure, f"model {model.id!r}")
    return predictions if many else predictions[0]


def _check_outcomes(
    results: Sequence[Prediction | WorkflowResult], expected: int, raise_on_failure: bool, what: str
) -> None:
    if len(results) != expected:
        raise PredictionError(
            f"{what} answered {len(results)} outputs for {expected} inputs", results
        )
    failed = [item for item in results if not item.status.ok]
    if failed and raise_on_failure:
        first = failed[0]
        raise PredictionError(
            f"{len(failed)} of {len(results)} inputs failed with {what} (first: input "
            f"{first.input_id!r}: {first.status.code} {first.status.description}"
            + (f": {first.status.details})" if first.status.details else ")"),
            results,
        )


def predict_workflow(
    workflow: Workflow, sources: object, *, config: JSON, raise_on_failure: bool, kind: str | None
) -> WorkflowResult | list[WorkflowResult]:
    """Run every node of ``workflow`` on the sources: one :class:`WorkflowResult` each."""
    session = session_of(workflow)
    many = _many(sources)
    items = list(sources) if many else [sources]  # type: ignore[call-overload]
    if not items:
        raise ValidationError("predict() needs at least one input")
    wire_inputs = [as_predict_input(item, kind) for item in items]
    results: list[WorkflowResult] = []
    try:
        for chunk in _chunks(wire_inputs, MAX_PREDICT_BATCH):
            body: JSON = {"inputs": list(chunk)}
            if config:
                body["output_config"] = config
            answer = session._send(
                "POST",
                f"workflows/{quote(workflow.id, safe='')}/results",
                body,
                idempotent=True,
                allow_partial=True,
            )
            results += [structure(r, WorkflowResult) for r in answer.get("results") or ()]
            session._report("predict", len(results), len(items), f"workflow {workflow.id}")
    finally:
        session._report("predict", len(results), len(items), "done", finished=True)
    _check_outcomes(results, len(items), raise_on_failure, f"workflow {workflow.id!r}")
    return results if many else results[0]


# -- training and versions -------------------------------------------------------------------


def _poll(deadline: float, delay: float, what: str) -> float:
    """Sleep ``delay`` (never past the deadline) and return the next, longer delay."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise WaitTimeoutError(what)
    time.sleep(min(delay, left))
    return min(delay * 2, LONGEST_POLL_SECONDS)


def train(model: Model, *, wait: bool, timeout: float) -> ModelVersion:
    """Start training a new version; with ``wait``, return it trained or raise."""
    session = session_of(model)
    _ready(session, model)
    answer = session._send("POST", _model_path(model, None, "versions"), {})
    version = structure(answer["model"]["model_version"], ModelVersion)
    _set_quietly(model, "model_version", version)
    if not wait:
        return version
    deadline = time.monotonic() + timeout
    delay = FIRST_POLL_SECONDS
    try:
        while version.status is not None and version.status.code in TRAINING_CODES:
            session._report("train", 0, None, f"{version.status.code} {version.status.description}")
            delay = _poll(
                deadline,
                delay,
                f"model {model.id!r} version {version.id!r} still {version.status.code} "
                f"{version.status.description} after {timeout} s",
            )
            version = get_version(model, version.id)
    finally:
        session._report("train", 0, None, "done", finished=True)
    _set_quietly(model, "model_version", version)
    code = version.status.code if version.status is not None else 0
    if code != TRAINED:
        status = version.status or Status(code)
        raise TrainingError(
            f"model {model.id!r} version {version.id!r} did not train: {status.code} "
            f"{status.description}" + (f": {status.details}" if status.details else ""),
            version,
        )
    return version


def get_version(model: Model, version_id: str) -> ModelVersion:
    """One version of the model (``NotFound`` if it has no such version)."""
    session = session_of(model)
    answer = session._send("GET", _model_path(model, check_id(version_id, "version id"), ""))
    return structure(answer["model_version"], ModelVersion)


def iter_versions(model: Model, per_page: int = PAGE_SIZE) -> Iterator[ModelVersion]:
    """Every version of the model, newest first, a page at a time as the iteration goes."""
    session = session_of(model)
    page = 1
    while True:
        answer = session._send(
            "GET", _model_path(model, None, "versions"), query={"page": page, "per_page": per_page}
        )
        batch = answer.get("model_versions") or []
        for wire in batch:
            yield structure(wire, ModelVersion)
        if len(batch) < per_page:
            return
        page += 1


def delete_version(model: Model, version: ModelVersion | str) -> None:
    """Delete one version of the model (the server keeps a model's last version)."""
    session = session_of(model)
    version_id = _version_id(version)
    session._send("DELETE", _model_path(model, version_id, ""), {})
    if model.model_version is not None and model.model_version.id == version_id:
        _set_quietly(model, "model_version", None)


def evaluate(
    model: Model, version: ModelVersion | str | None, *, wait: bool, timeout: float
) -> EvaluationMetrics:
    """Evaluate a trained version (the model's current one by default) and read its metrics."""
    session = session_of(model)
    version_id = _version_id(version)
    if version_id is None:
        current = model.model_version
        if current is None:
            current = next(iter_versions(model, per_page=1), None)
        if current is None:
            raise ValidationError(f"model {model.id!r} has no version to evaluate; train it first")
        version_id = current.id
    answer = session._send("POST", _model_path(model, version_id, "metrics"), {}, idempotent=True)
    metrics = _metrics_of(answer)
    deadline = time.monotonic() + timeout
    delay = FIRST_POLL_SECONDS
    try:
        while wait and metrics.status.code in EVALUATING_CODES:
            session._report(
                "evaluate", 0, None, f"{metrics.status.code} {metrics.status.description}"
            )
            delay = _poll(
                deadline,
                delay,
                f"model {model.id!r} version {version_id!r} still evaluating after {timeout} s",
            )
            metrics = _metrics_of(session._send("GET", _model_path(model, version_id, "metrics")))
    finally:
        if wait:
            session._report("evaluate", 0, None, "done", finished=True)
    if wait and metrics.status.code != EVALUATED:
        raise EvaluationError(
            f"model {model.id!r} version {version_id!r} was not evaluated: "
            f"{metrics.status.code} {metrics.status.description}"
            + (f": {metrics.status.details}" if metrics.status.details else ""),
            metrics.status,
        )
    return metrics


def _metrics_of(answer: JSON) -> EvaluationMetrics:
    wire = (answer.get("model_version") or {}).get("metrics") or {"status": {"code": 21302}}
    return structure(wire, EvaluationMetrics)


def iter_inputs(
    model: Model, version: ModelVersion | str | None = None, per_page: int = PAGE_SIZE
) -> Iterator[Input]:
    """The inputs the model learns from (those of a version: the ones it was trained on)."""
    session = session_of(model)
    path = _model_path(model, _version_id(version), "inputs")
    page = 1
    while True:
        answer = session._send("GET", path, query={"page": page, "per_page": per_page})
        batch = answer.get("inputs") or []
        for wire in batch:
            yield session._load(Input, wire)
        if len(batch) < per_page:
            return
        page += 1


# -- feedback --------------------------------------------------------------------------------


def _feedback_target(target: Input | Prediction | str) -> tuple[Input, str | None]:
    if isinstance(target, Input):
        return target, None
    if isinstance(target, Prediction):
        return Input(id=check_id(target.input_id, "input id")), target.output_id
    return Input(id=check_id(target, "input id")), None


def send_model_feedback(
    model: Model,
    target: Input | Prediction | str,
    *,
    concepts: Iterable[str | ConceptAnnotation],
    not_concepts: Iterable[str],
    regions: Iterable[Region],
    info: FeedbackInfo,
    version: ModelVersion | str | None,
) -> None:
    """Tell the model what is right about one of its predictions."""
    session = session_of(model)
    entity, output_id = _feedback_target(target)
    if output_id and not info.output_id:
        info = FeedbackInfo(
            info.end_user_id, info.session_id, info.event_type, output_id, info.search_id
        )
    if isinstance(not_concepts, str) or isinstance(concepts, str):
        raise ValidationError("concepts and not_concepts must be lists of concept ids")
    annotations = [
        c if isinstance(c, ConceptAnnotation) else ConceptAnnotation(c) for c in concepts
    ]
    annotations += [ConceptAnnotation(check_id(c, "concept id"), 0.0) for c in not_concepts]
    body = {"input": feedback_input(entity, info, concepts=annotations, regions=list(regions))}
    session._send("POST", _model_path(model, _version_id(version), "feedback"), body)


def send_search_feedback(session: Session, input_id: str, info: FeedbackInfo) -> None:
    """Tell the API which hit of a search the end user chose."""
    body = {"input": {"id": check_id(input_id, "input id"), "feedback_info": unstructure(info)}}
    session._send("POST", "searches/feedback", body)


# -- workflows -------------------------------------------------------------------------------


def _node_of(item: Model | WorkflowNode | str, taken: set[str]) -> WorkflowNode:
    if isinstance(item, WorkflowNode):
        node = item
    elif isinstance(item, Model):
        version = item.model_version.id if item.model_version is not None else None
        node = WorkflowNode(
            id=_node_id(item.name or item.id, taken), model_id=item.id, model_version_id=version
        )
    elif isinstance(item, str):
        node = WorkflowNode(id=_node_id(item, taken), model_id=check_id(item, "model id"))
    else:
        raise ValidationError(
            f"a workflow node is a Model, a model id or a WorkflowNode, got {type(item).__name__}"
        )
    taken.add(node.id)
    return node


def _node_id(base: str, taken: set[str]) -> str:
    cleaned = "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in base) or "node"
    candidate, number = cleaned, 2
    while candidate in taken:
        candidate, number = f"{cleaned}-{number}", number + 1
    return candidate


def new_workflow(workflow_id: str, nodes: Sequence[Model | WorkflowNode | str]) -> Workflow:
    """A new workflow running ``nodes`` (models, model ids or nodes), not yet in a session."""
    check_id(workflow_id, "workflow id")
    if isinstance(nodes, str) or not nodes:
        raise ValidationError("a workflow needs a list of at least one model")
    taken: set[str] = set()
    return Workflow(id=workflow_id, nodes=[_node_of(item, taken) for item in nodes])


def delete_workflow(workflow: Workflow) -> None:
    """Delete the workflow: mark it deleted in its session and flush."""
    session = session_of(workflow)
    session.delete(workflow)
    session.flush()
