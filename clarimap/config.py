"""Where the base URL and credentials come from, and the config file that keeps them.

Each setting is looked up in order, and the first place that has it wins:

1. the arguments of :func:`clarimap.connect` (``url``, ``api_key``, ``pat``, ``user_id``, ``app_id``);
2. the environment: ``CLARIFAI_API_KEY``, ``CLARIFAI_PAT``, ``CLARIFAI_USER_ID``,
   ``CLARIFAI_APP_ID``, ``CLARIFAI_API_BASE``;
3. ``~/.clarifai/config``, the INI file the 2.6.2 client used (section ``[clarifai]``, the same
   variable names as keys), which ``clarimap config`` (:func:`write_config`) writes with mode 0600.

The key and the PAT are one credential: the first place that gives either gives it (both in
one place is an error). :class:`Settings` never shows them in its repr.
"""

from __future__ import annotations

import configparser
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

import attrs

from clarimap.errors import ConfigurationError

__all__ = [
    "DEFAULT_API_BASE",
    "Settings",
    "config_path",
    "read_config",
    "resolve_settings",
    "write_config",
]

DEFAULT_API_BASE = "https://api.clarifai.com"
SECTION = "clarifai"
ENV_NAMES = {
    "api_key": "CLARIFAI_API_KEY",
    "pat": "CLARIFAI_PAT",
    "user_id": "CLARIFAI_USER_ID",
    "app_id": "CLARIFAI_APP_ID",
    "base_url": "CLARIFAI_API_BASE",
}
HOW_TO_CONFIGURE = (
    "pass a URL or credentials to clarimap.connect(...): "
    "clarimap.connect('local://photos.db') for the embedded local server (no account needed), "
    "clarimap.connect(api_key=...) or clarimap.connect(pat=..., user_id=..., app_id=...) for the "
    "Clarifai API, clarimap.connect('http://127.0.0.1:8080') for `clarimap serve`; or set "
    "CLARIFAI_API_KEY / CLARIFAI_PAT (with CLARIFAI_USER_ID and CLARIFAI_APP_ID) and "
    "CLARIFAI_API_BASE; or run `clarimap config` to write ~/.clarifai/config"
)


def config_path() -> Path:
    """The config file's path: ``~/.clarifai/config``."""
    return Path.home() / ".clarifai" / "config"


def _secret_repr(value: str | None) -> str:
    return "None" if value is None else "'***'"


@attrs.frozen
class Settings:
    """The base URL, credential and app scope a session uses, and where each came from."""

    base_url: str | None = None
    api_key: str | None = attrs.field(default=None, repr=_secret_repr)
    pat: str | None = attrs.field(default=None, repr=_secret_repr)
    user_id: str | None = None
    app_id: str | None = None
    #: Setting name -> ``"argument"``, ``"environment"`` or the config file path.
    sources: Mapping[str, str] = attrs.field(factory=dict, eq=False)

    @property
    def credential(self) -> str | None:
        """The key or PAT sent as ``Authorization: Key ...``."""
        return self.pat or self.api_key

    @property
    def scoped(self) -> bool:
        """True when routes carry ``/users/{user_id}/apps/{app_id}`` (always with a PAT)."""
        return self.pat is not None or (self.user_id is not None and self.app_id is not None)


def read_config(path: str | os.PathLike[str] | None = None) -> dict[str, str]:
    """The settings in the config file (setting name -> value); empty if there is no file."""
    file = Path(path) if path is not None else config_path()
    if not file.is_file():
        return {}
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(file, encoding="utf-8")
    except configparser.Error as error:
        raise ConfigurationError(f"{file} is not a valid config file: {error}") from None
    if not parser.has_section(SECTION):
        return {}
    found: dict[str, str] = {}
    for name, variable in ENV_NAMES.items():
        value = parser.get(SECTION, variable, fallback="").strip()
        if value:
            found[name] = value
    return found


def check_base_url(url: str) -> None:
    """Raise :class:`ConfigurationError` unless ``url`` has the shape ``scheme://...``.

    ``http``/``https`` URLs also need a host. Other schemes (``local://PATH``, or one a
    transport plugin serves) are checked when :func:`clarimap.connect` picks the transport.
    """
    scheme, separator, _ = url.partition("://")
    if not separator or not scheme.isascii() or not scheme.replace("+", "").isalnum():
        raise ConfigurationError(
            f"CLARIFAI_API_BASE {url!r} is not a URL: expected scheme://..., "
            "for example https://api.clarifai.com or local://./data"
        )
    if scheme.lower() in ("http", "https") and not urlsplit(url).hostname:
        raise ConfigurationError(f"CLARIFAI_API_BASE {url!r} has no host")


def write_config(
    *,
    api_key: str | None = None,
    pat: str | None = None,
    user_id: str | None = None,
    app_id: str | None = None,
    base_url: str | None = None,
    path: str | os.PathLike[str] | None = None,
) -> Path:
    """Write the given settings to the config file (mode 0600), keeping the ones not given.

    The file is the 2.6.2 client's ``~/.clarifai/config``, so that client reads the key and
    base URL too. Returns the path written.
    """
    file = Path(path) if path is not None else config_path()
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    if file.is_dir():
        raise ConfigurationError(f"cannot write the config file {file}: it is a directory")
    if file.is_file():
        try:
            parser.read(file, encoding="utf-8")
        except configparser.Error as error:
            raise ConfigurationError(f"{file} is not a valid config file: {error}") from None
    if not parser.has_section(SECTION):
        parser.add_section(SECTION)
    given = {
        "api_key": api_key,
        "pat": pat,
        "user_id": user_id,
        "app_id": app_id,
        "base_url": base_url,
    }
    for name, value in given.items():
        if value is None:
            continue
        if "\n" in value or "\r" in value:
            raise ConfigurationError(f"{ENV_NAMES[name]} must be one line")
        if name == "base_url" and value:
            check_base_url(value)
        for existing in list(parser.options(SECTION)):
            if existing.upper() == ENV_NAMES[name]:
                parser.remove_option(SECTION, existing)
        if value:
            parser.set(SECTION, ENV_NAMES[name], value)
    try:
        file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=file.parent, prefix=".config-")
    except OSError as error:
        raise ConfigurationError(f"cannot write the config file {file}: {error}") from None
    try:
        os.fchmod(handle, 0o600)
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            parser.write(stream)
        os.replace(temporary, file)
    except OSError as error:
        Path(temporary).unlink(missing_ok=True)
        raise ConfigurationError(f"cannot write the config file {file}: {error}") from None
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    os.chmod(file, 0o600)
    return file


def resolve_settings(
    url: str | None = None,
    *,
    api_key: str | None = None,
    pat: str | None = None,
    user_id: str | None = None,
    app_id: str | None = None,
    environ: Mapping[str, str] | None = None,
    config_file: str | os.PathLike[str] | None = None,
) -> Settings:
    """The settings to connect with: arguments, then environment, then the config file.

    Raises :class:`ConfigurationError` naming every way to configure one when nothing gives a
    URL or a credential, and when a PAT comes without a user id and app id.
    """
    environment = os.environ if environ is None else environ
    levels: list[tuple[str, dict[str, str]]] = [
        (
            "argument",
            _given(base_url=url, api_key=api_key, pat=pat, user_id=user_id, app_id=app_id),
        ),
        (
            "environment",
            {name: environment[var] for name, var in ENV_NAMES.items() if environment.get(var)},
        ),
    ]
    file_settings = read_config(config_file)
    if file_settings:
        levels.append((str(config_file or config_path()), file_settings))

    chosen: dict[str, str] = {}
    sources: dict[str, str] = {}
    for source, values in levels:
        if "api_key" not in chosen and "pat" not in chosen:
            if values.get("api_key") and values.get("pat"):
                raise ConfigurationError(
                    f"both an API key and a PAT are set ({source}); give only one"
                )
            for name in ("api_key", "pat"):
                if values.get(name):
                    chosen[name] = values[name]
                    sources[name] = source
        for name in ("base_url", "user_id", "app_id"):
            if name not in chosen and values.get(name):
                chosen[name] = values[name]
                sources[name] = source

    if "base_url" not in chosen and "api_key" not in chosen and "pat" not in chosen:
        raise ConfigurationError(f"no Clarifai API configured: {HOW_TO_CONFIGURE}")
    base_url = chosen.get("base_url", DEFAULT_API_BASE)
    if "base_url" not in chosen:
        sources["base_url"] = "default"
    settings = Settings(
        base_url=base_url.rstrip("/"),
        api_key=chosen.get("api_key"),
        pat=chosen.get("pat"),
        user_id=chosen.get("user_id"),
        app_id=chosen.get("app_id"),
        sources=sources,
    )
    if settings.pat is not None and (settings.user_id is None or settings.app_id is None):
        raise ConfigurationError(
            "a PAT reaches apps by user and app id: give user_id and app_id too "
            "(arguments, CLARIFAI_USER_ID / CLARIFAI_APP_ID, or `clarimap config`)"
        )
    return settings


def _given(**values: str | None) -> dict[str, str]:
    return {name: value for name, value in values.items() if value}
