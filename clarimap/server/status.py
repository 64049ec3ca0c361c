"""Clarifai status codes, their descriptions and the HTTP status each maps to.

One table for the whole server (wire reference, section 2). Handlers raise
:class:`clarimap.server.errors.ApiError` with a code from here; the application turns it into the
status envelope with the matching HTTP status.
"""

from __future__ import annotations

from typing import Final

SUCCESS: Final = 10000
MIXED_STATUS: Final = 10010
FAILURE: Final = 10020
TRY_AGAIN: Final = 10030

CONN_TOKEN_INVALID: Final = 11001
CONN_CREDENTIALS_INVALID: Final = 11002
CONN_THROTTLED: Final = 11005
CONN_INSUFFICIENT_SCOPES: Final = 11007
CONN_KEY_INVALID: Final = 11008
CONN_KEY_NOT_FOUND: Final = 11009
CONN_BAD_REQUEST_FORMAT: Final = 11100
CONN_DOES_NOT_EXIST: Final = 11101
CONN_INVALID_REQUEST: Final = 11102
CONN_METHOD_NOT_ALLOWED: Final = 11103

MODEL_TRAINED: Final = 21100
MODEL_TRAINING: Final = 21101
MODEL_UNTRAINED: Final = 21102
MODEL_QUEUED_FOR_TRAINING: Final = 21103
MODEL_TRAINING_NO_DATA: Final = 21110
MODEL_TRAINING_NO_POSITIVES: Final = 21111
MODEL_TRAINING_ONE_VS_N_SINGLE_CLASS: Final = 21112
MODEL_TRAINING_TIMED_OUT: Final = 21113
MODEL_TRAINING_WAITING_ERROR: Final = 21114
MODEL_TRAINING_UNKNOWN_ERROR: Final = 21115
MODEL_MODIFY_SUCCESS: Final = 21150
MODEL_DOES_NOT_EXIST: Final = 21200
MODEL_PERMISSION_DENIED: Final = 21201
MODEL_INVALID_ARGUMENT: Final = 21202
MODEL_INVALID_REQUEST: Final = 21203

MODEL_EVALUATED: Final = 21300
MODEL_EVALUATING: Final = 21301
MODEL_NOT_EVALUATED: Final = 21302
MODEL_QUEUED_FOR_EVALUATION: Final = 21303

WORKFLOW_NO_MATCHING_INPUT: Final = 22001
WORKFLOW_REQUIRE_TRAINED_MODEL: Final = 22002
WORKFLOW_DUPLICATE: Final = 22100
WORKFLOW_DOES_NOT_EXIST: Final = 22102
WORKFLOW_INVALID_ARGUMENT: Final = 22104
WORKFLOW_INVALID_REQUEST: Final = 22999

CONCEPT_MODIFY_SUCCESS: Final = 23150

INPUT_DOWNLOAD_SUCCESS: Final = 30000
INPUT_DOWNLOAD_PENDING: Final = 30001
INPUT_DOWNLOAD_FAILED: Final = 30002
INPUT_DOWNLOAD_IN_PROGRESS: Final = 30003
INPUT_DUPLICATE: Final = 30100
INPUT_UNSUPPORTED_FORMAT: Final = 30101
INPUT_DOES_NOT_EXIST: Final = 30102
INPUT_INVALID_ARGUMENT: Final = 30104
INPUT_MODIFY_SUCCESS: Final = 30200
INPUT_MODIFY_FAILED: Final = 30203
ALL_INPUT_INVALID_BYTES: Final = 30300
INPUT_VIDEO_DOWNLOAD_SUCCESS: Final = 31000
INPUT_VIDEO_DOWNLOAD_PENDING: Final = 31001
INPUT_VIDEO_DOWNLOAD_FAILED: Final = 31002
INPUT_VIDEO_UNSUPPORTED_FORMAT: Final = 31101
INPUT_INVALID_REQUEST: Final = 39999

PREDICT_INVALID_REQUEST: Final = 40001
SEARCH_INVALID_REQUEST: Final = 40002
CONCEPTS_INVALID_REQUEST: Final = 40003
DATABASE_DUPLICATE_KEY: Final = 40010

SEARCH_INTERNAL_FAILURE: Final = 43001
SEARCH_PREDICTION_FAILURE: Final = 43003
SEARCH_BY_NOT_FULLY_INDEXED_INPUT: Final = 43004

INTERNAL_SERVER_ISSUE: Final = 98004
INTERNAL_UNCATEGORIZED: Final = 99009

DESCRIPTIONS: Final[dict[int, str]] = {
    SUCCESS: "Ok",
    MIXED_STATUS: "Mixed Success",
    FAILURE: "Failure",
    TRY_AGAIN: "Try again",
    CONN_TOKEN_INVALID: "Invalid token",
    CONN_CREDENTIALS_INVALID: "Invalid credentials",
    CONN_THROTTLED: "Making too many requests",
    CONN_INSUFFICIENT_SCOPES: "Insufficient scopes",
    CONN_KEY_INVALID: "Invalid API key or Invalid API key/application pair",
    CONN_KEY_NOT_FOUND: "API key not found",
    CONN_BAD_REQUEST_FORMAT: "Bad request format",
    CONN_DOES_NOT_EXIST: "Resource does not exist",
    CONN_INVALID_REQUEST: "Invalid request",
    CONN_METHOD_NOT_ALLOWED: "Method not allowed",
    MODEL_TRAINED: "Model is trained and ready",
    MODEL_TRAINING: "Model is currently training",
    MODEL_UNTRAINED: "Model has not yet been trained",
    MODEL_QUEUED_FOR_TRAINING: "Model is currently in queue for training",
    MODEL_TRAINING_NO_DATA: "Insufficient data to train model",
    MODEL_TRAINING_NO_POSITIVES: "No positive examples to train model",
    MODEL_TRAINING_ONE_VS_N_SINGLE_CLASS: "One vs N training needs more than one class",
    MODEL_TRAINING_TIMED_OUT: "Training timed out",
    MODEL_TRAINING_WAITING_ERROR: "Training failed while waiting",
    MODEL_TRAINING_UNKNOWN_ERROR: "Training failed with an unknown error",
    MODEL_MODIFY_SUCCESS: "Model modified successfully",
    MODEL_DOES_NOT_EXIST: "Model does not exist",
    MODEL_PERMISSION_DENIED: "Model permission denied",
    MODEL_INVALID_ARGUMENT: "Invalid model argument",
    MODEL_INVALID_REQUEST: "Invalid model request",
    MODEL_EVALUATED: "Model was successfully evaluated",
    MODEL_EVALUATING: "Model is evaluating",
    MODEL_NOT_EVALUATED: "Model is not yet evaluated",
    MODEL_QUEUED_FOR_EVALUATION: "Model is queued for evaluation",
    WORKFLOW_NO_MATCHING_INPUT: "No matching input",
    WORKFLOW_REQUIRE_TRAINED_MODEL: "Workflow requires a trained model",
    WORKFLOW_DUPLICATE: "Workflow already exists",
    WORKFLOW_DOES_NOT_EXIST: "Workflow does not exist",
    WORKFLOW_INVALID_ARGUMENT: "Invalid workflow argument",
    WORKFLOW_INVALID_REQUEST: "Invalid workflow request",
    CONCEPT_MODIFY_SUCCESS: "Concept modified successfully",
    INPUT_DOWNLOAD_SUCCESS: "Download complete",
    INPUT_DOWNLOAD_PENDING: "Download pending",
    INPUT_DOWNLOAD_FAILED: "Download failed; check URL",
    INPUT_DOWNLOAD_IN_PROGRESS: "Download in progress",
    INPUT_DUPLICATE: "Input is a duplicate",
    INPUT_UNSUPPORTED_FORMAT: "Input image format is not supported",
    INPUT_DOES_NOT_EXIST: "Input does not exist",
    INPUT_INVALID_ARGUMENT: "Invalid input argument",
    INPUT_MODIFY_SUCCESS: "Input modified successfully",
    INPUT_MODIFY_FAILED: "Input modification failed",
    ALL_INPUT_INVALID_BYTES: "All inputs have invalid bytes",
    INPUT_VIDEO_DOWNLOAD_SUCCESS: "Download complete",
    INPUT_VIDEO_DOWNLOAD_PENDING: "Download pending",
    INPUT_VIDEO_DOWNLOAD_FAILED: "Download failed; check URL",
    INPUT_VIDEO_UNSUPPORTED_FORMAT: "Input video format is not supported",
    INPUT_INVALID_REQUEST: "Invalid input request",
    PREDICT_INVALID_REQUEST: "Invalid predict request",
    SEARCH_INVALID_REQUEST: "Invalid search request",
    CONCEPTS_INVALID_REQUEST: "Invalid concepts request",
    DATABASE_DUPLICATE_KEY: "Duplicate key",
    SEARCH_INTERNAL_FAILURE: "Search failed",
    SEARCH_PREDICTION_FAILURE: "Search prediction failed",
    SEARCH_BY_NOT_FULLY_INDEXED_INPUT: "Input is not fully indexed yet",
    INTERNAL_SERVER_ISSUE: "Internal server issue",
    INTERNAL_UNCATEGORIZED: "Internal error",
}

_NOT_FOUND: Final = {
    CONN_DOES_NOT_EXIST,
    MODEL_DOES_NOT_EXIST,
    WORKFLOW_DOES_NOT_EXIST,
    INPUT_DOES_NOT_EXIST,
}
_UNAUTHORIZED: Final = {
    CONN_TOKEN_INVALID,
    CONN_CREDENTIALS_INVALID,
    CONN_KEY_INVALID,
    CONN_KEY_NOT_FOUND,
}


def description(code: int) -> str:
    """The standard description of ``code`` (``"Unknown status"`` for codes not in the table)."""
    return DESCRIPTIONS.get(code, "Unknown status")


def http_status(code: int) -> int:
    """The HTTP status a response whose top-level status is ``code`` is sent with."""
    if code in (SUCCESS, MIXED_STATUS):
        return 200
    if code in _NOT_FOUND:
        return 404
    if code in _UNAUTHORIZED:
        return 401
    if code in (CONN_INSUFFICIENT_SCOPES, MODEL_PERMISSION_DENIED):
        return 403
    if code == CONN_METHOD_NOT_ALLOWED:
        return 405
    if code == CONN_THROTTLED:
        return 429
    if code >= 90000:
        return 500
    return 400


def envelope(
    code: int, details: str = "", *, description_text: str | None = None
) -> dict[str, object]:
    """A ``status`` object: code, description and (when non-empty) details."""
    status: dict[str, object] = {"code": code, "description": description_text or description(code)}
    if details:
        status["details"] = details
    return status
