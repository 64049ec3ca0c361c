"""Where settings come from: arguments, then environment, then ~/.clarifai/config (mode 0600)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

import clarimap
from clarimap import ConfigurationError
from clarimap.config import read_config, resolve_settings, write_config


def test_arguments_win_over_environment_and_file(tmp_path: Path) -> None:
    config = write_config(api_key="from-file", base_url="http://file:1", path=tmp_path / "config")
    environ = {"CLARIFAI_API_KEY": "from-env", "CLARIFAI_API_BASE": "http://env:2"}
    settings = resolve_settings(api_key="from-arg", environ=environ, config_file=config)
    assert (settings.api_key, settings.base_url) == ("from-arg", "http://env:2")
    assert settings.sources == {"api_key": "argument", "base_url": "environment"}
    settings = resolve_settings(environ={}, config_file=config)
    assert (settings.api_key, settings.base_url) == ("from-file", "http://file:1")
    settings = resolve_settings(
        environ={"CLARIFAI_PAT": "pat", "CLARIFAI_USER_ID": "u", "CLARIFAI_APP_ID": "a"},
        config_file=config,
    )
    assert settings.pat == "pat" and settings.api_key is None and settings.scoped
    assert settings.base_url == "http://file:1"


def test_default_base_url_is_the_clarifai_api() -> None:
    settings = resolve_settings(api_key="k", environ={}, config_file="/nonexistent")
    assert settings.base_url == "https://api.clarifai.com" and not settings.scoped


def test_nothing_configured_names_the_ways(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in ("CLARIFAI_API_KEY", "CLARIFAI_PAT", "CLARIFAI_API_BASE"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigurationError) as caught:
        clarimap.connect()
    message = str(caught.value)
    for way in ("local://", "CLARIFAI_API_KEY", "CLARIFAI_PAT", "clarimap config", "api_key="):
        assert way in message


def test_pat_needs_user_and_app_and_uses_long_routes(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="user_id and app_id"):
        resolve_settings(pat="p", environ={}, config_file=tmp_path / "none")
    session = clarimap.connect(
        "http://127.0.0.1:1", pat="PAT-secret-77", user_id="me", app_id="photos", environ={}
    )
    assert session.prefix == "/v2/users/me/apps/photos"
    assert "PAT-secret-77" not in repr(session) + repr(session.transport)


def test_key_and_pat_in_one_place_is_an_error() -> None:
    with pytest.raises(ConfigurationError, match="only one"):
        resolve_settings(api_key="k", pat="p", user_id="u", app_id="a", environ={})


def test_write_config_mode_0600_and_readable_by_2_6_2_layout(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "config"
    write_config(api_key="abc", path=path)
    write_config(base_url="http://127.0.0.1:8080", path=path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert text.startswith("[clarifai]") and "CLARIFAI_API_KEY = abc" in text
    assert read_config(path) == {"api_key": "abc", "base_url": "http://127.0.0.1:8080"}
    import configparser

    legacy = configparser.ConfigParser()  # how 2.6.2 reads it (lower-cased option names)
    legacy.read(path)
    assert legacy.get("clarifai", "CLARIFAI_API_KEY") == "abc"


def test_local_url_needs_no_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLARIFAI_PAT", "ignored-for-local")
    session = clarimap.connect("local://:memory:")
    assert session.prefix == "/v2"
    assert session._send("GET", "inputs")["inputs"] == []


def test_clarimap_config_command_writes_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from clarimap.cli import main

    path = tmp_path / "config"
    assert (
        main(["config", "--api-key", "cli-secret", "--app-id", "photos", "--path", str(path)]) == 0
    )
    out = capsys.readouterr().out
    assert "cli-secret" not in out and "CLARIFAI_APP_ID = photos" in out
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_config(path) == {"api_key": "cli-secret", "app_id": "photos"}


def test_write_config_where_no_file_can_be_is_a_configuration_error(tmp_path: Path) -> None:
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("x")
    with pytest.raises(ConfigurationError, match="it is a directory"):
        write_config(api_key="k", path=tmp_path)
    with pytest.raises(ConfigurationError, match="cannot write the config file"):
        write_config(api_key="k", path=not_a_directory / "config")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["file"]  # no temporary left


def test_write_config_over_a_malformed_file_is_a_configuration_error(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text("no section header\n")
    with pytest.raises(ConfigurationError, match="is not a valid config file"):
        write_config(api_key="k", path=config)
    assert config.read_text() == "no section header\n"


@pytest.mark.parametrize(
    ("base_url", "complaint"),
    [
        ("ftp:/nonsense", "is not a URL"),
        ("api.clarifai.com", "is not a URL"),
        ("://host", "is not a URL"),
        ("https://", "has no host"),
        ("http:///v2", "has no host"),
    ],
)
def test_write_config_refuses_a_base_url_that_is_not_one(
    tmp_path: Path, base_url: str, complaint: str
) -> None:
    config = tmp_path / "config"
    write_config(api_key="k", path=config)
    with pytest.raises(ConfigurationError, match=complaint):
        write_config(base_url=base_url, path=config)
    assert read_config(config) == {"api_key": "k"}  # the file is left as it was


@pytest.mark.parametrize(
    "base_url", ["https://api.clarifai.com", "http://127.0.0.1:8080", "local://./data"]
)
def test_write_config_takes_http_and_local_base_urls(tmp_path: Path, base_url: str) -> None:
    config = write_config(base_url=base_url, path=tmp_path / "config")
    assert read_config(config) == {"base_url": base_url}


def test_clarimap_config_command_reports_a_bad_base_url(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from clarimap.cli import main

    path = tmp_path / "config"
    assert main(["config", "--base-url", "ftp:/nonsense", "--path", str(path)]) == 1
    assert "CLARIFAI_API_BASE 'ftp:/nonsense' is not a URL" in capsys.readouterr().err
    assert not path.exists()
