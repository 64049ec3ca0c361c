"""clarimap plugin: ``s3://bucket/key`` media through boto3, as a presigned URL or as bytes.

Registered through the ``clarimap`` entry point ``s3``; clarimap asks
:func:`clarimap_resolve_media` for every media source, and this plugin claims ``s3://`` strings
and :class:`S3Media` values. boto3 is imported only when an S3 source is resolved.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import unquote, urlsplit

import attrs

from clarimap.errors import InvalidMediaError, MediaError, MediaFileNotFoundError
from clarimap.hookspecs import MediaKind, hookimpl
from clarimap.media import ResolvedMedia, guess_kind

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["MODE_ENV_VAR", "S3Media", "S3Mode", "clarimap_resolve_media", "default_mode"]

__version__ = "0.1.0"

S3Mode = Literal["url", "bytes"]
MODES: tuple[str, ...] = ("url", "bytes")
MODE_ENV_VAR = "CLARIMAP_S3_MODE"
DEFAULT_EXPIRES_IN = 3600


def default_mode() -> S3Mode:
    """``$CLARIMAP_S3_MODE`` (``url`` or ``bytes``), else ``url``."""
    mode = os.environ.get(MODE_ENV_VAR, "url").strip().lower() or "url"
    if mode not in MODES:
        raise InvalidMediaError(f"{MODE_ENV_VAR}={mode!r}: give 'url' or 'bytes'")
    return mode  # type: ignore[return-value]


def _check_mode(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if value not in MODES:
        raise InvalidMediaError(f"S3Media mode must be 'url' or 'bytes', not {value!r}")


def _check_expires_in(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if not isinstance(value, int) or not 1 <= value <= 604800:
        raise InvalidMediaError(
            f"S3Media expires_in must be whole seconds from 1 to 604800 (7 days), not {value!r}"
        )


def _check_part(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not value:
        raise InvalidMediaError(f"S3Media {attribute.name} must be a non-empty str, not {value!r}")


@attrs.frozen
class S3Media:
    """An S3 object to use as an image or video; ``mode`` says whether to send a URL or bytes."""

    bucket: str = attrs.field(validator=_check_part)
    key: str = attrs.field(validator=_check_part)
    mode: S3Mode = attrs.field(default="url", validator=_check_mode)
    expires_in: int = attrs.field(default=DEFAULT_EXPIRES_IN, validator=_check_expires_in)
    client: Any = attrs.field(default=None, repr=False, eq=False)

    @classmethod
    def from_uri(
        cls,
        uri: str,
        *,
        mode: S3Mode | None = None,
        expires_in: int = DEFAULT_EXPIRES_IN,
        client: Any = None,
    ) -> S3Media:
        """Parse ``s3://bucket/key``; ``mode`` defaults to :func:`default_mode`."""
        parts = urlsplit(uri)
        key = unquote(parts.path.lstrip("/"))
        if parts.scheme.lower() != "s3" or not parts.netloc or not key:
            raise InvalidMediaError(f"not an s3://bucket/key URI: {uri!r}")
        return cls(
            parts.netloc, key, mode=mode or default_mode(), expires_in=expires_in, client=client
        )

    @property
    def uri(self) -> str:
        """``s3://bucket/key``."""
        return f"s3://{self.bucket}/{self.key}"

    def resolve(self, kind: MediaKind | None = None) -> ResolvedMedia:
        """Check the object exists, then presign its URL or download its bytes."""
        client = self.client if self.client is not None else default_client()
        head = _call(client.head_object, self.uri, Bucket=self.bucket, Key=self.key)
        content_type = str(head.get("ContentType") or "")
        if kind is None and content_type.startswith(("image/", "video/")):
            kind = "video" if content_type.startswith("video/") else "image"
        if self.mode == "url":
            url = _call(
                client.generate_presigned_url,
                self.uri,
                ClientMethod="get_object",
                Params={"Bucket": self.bucket, "Key": self.key},
                ExpiresIn=self.expires_in,
            )
            return ResolvedMedia(url=str(url), kind=kind or guess_kind(name=self.key))
        answer = _call(client.get_object, self.uri, Bucket=self.bucket, Key=self.key)
        body = answer["Body"]
        try:
            content = body.read()
        finally:
            body.close()
        if not content:
            raise InvalidMediaError(f"{self.uri} is empty")
        return ResolvedMedia(
            base64=bytes(content), kind=kind or guess_kind(content=content, name=self.key)
        )


_MISSING_CODES = {"404", "NoSuchKey", "NoSuchBucket", "NotFound"}


def _call(method: Callable[..., Any], uri: str, **kwargs: Any) -> Any:
    """Call a boto3 client method; its failures become clarimap media errors naming ``uri``."""
    from botocore.exceptions import (  # type: ignore[import-untyped]
        BotoCoreError,
        ClientError,
        NoCredentialsError,
    )

    try:
        return method(**kwargs)
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", ""))
        if code in _MISSING_CODES:
            raise MediaFileNotFoundError(uri, "no such S3 object") from error
        raise MediaError(f"S3 refused {uri}: {code or 'error'}: {error}") from error
    except NoCredentialsError as error:
        raise MediaError(
            f"cannot read {uri}: no AWS credentials (set AWS_PROFILE or AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY, or pass S3Media(..., client=...))"
        ) from error
    except BotoCoreError as error:
        raise MediaError(f"cannot reach S3 for {uri}: {error}") from error


_clients: dict[tuple[str | None, ...], Any] = {}
_clients_lock = threading.Lock()
_CLIENT_ENV_VARS = (
    "AWS_PROFILE",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ACCESS_KEY_ID",
)


def default_client() -> Any:
    """A boto3 S3 client from boto3's usual configuration, one per configuration per process."""
    configuration = tuple(os.environ.get(name) for name in _CLIENT_ENV_VARS)
    with _clients_lock:
        client = _clients.get(configuration)
        if client is None:
            import boto3.session  # type: ignore[import-untyped]

            client = _clients[configuration] = boto3.session.Session().client("s3")
        return client


@hookimpl
def clarimap_resolve_media(source: object, kind: MediaKind | None) -> ResolvedMedia | None:
    """Claim ``s3://`` strings and :class:`S3Media` values; ``None`` for anything else."""
    if isinstance(source, S3Media):
        return source.resolve(kind)
    if isinstance(source, str) and source[:5].lower() == "s3://":
        return S3Media.from_uri(source).resolve(kind)
    return None
