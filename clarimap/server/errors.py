"""The one exception the local server's handlers raise to answer with an error status."""

from __future__ import annotations

from clarimap.server import status


class ApiError(Exception):
    """An error answer: a Clarifai status code, a description, details and an HTTP status.

    ``details`` says, for a person, what exactly was wrong (``"inputs[3].data.image.url: expected
    a string, got 12"``). The application turns the exception into the status envelope; no
    traceback ever reaches the client.
    """

    def __init__(
        self,
        code: int,
        details: str = "",
        *,
        description: str | None = None,
        http_status: int | None = None,
        payload: dict[str, object] | None = None,
    ) -> None:
        self.code = code
        self.description = description or status.description(code)
        self.details = details
        self.http_status = http_status or status.http_status(code)
        self.payload = payload or {}
        super().__init__(
            f"{code} {self.description}: {details}" if details else f"{code} {self.description}"
        )

    def body(self) -> dict[str, object]:
        """The JSON body of the answer: the status envelope plus any payload."""
        body: dict[str, object] = {
            "status": status.envelope(self.code, self.details, description_text=self.description)
        }
        body.update(self.payload)
        return body


def invalid_request(details: str, code: int = status.CONN_INVALID_REQUEST) -> ApiError:
    """An ``11102 Invalid request`` (or ``code``) error saying what was wrong."""
    return ApiError(code, details)
