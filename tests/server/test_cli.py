"""The ``clarimap`` command line: ``serve`` (a real subprocess on 127.0.0.1) and ``demo``."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from clarimap import cli
from tests.serve_process import ServeProcess


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_serve_prints_its_url_and_answers_with_the_configured_key(tmp_path: Path) -> None:
    with ServeProcess(data=tmp_path / "data", api_keys=["cli-key"]) as server:
        assert server.url.startswith("http://127.0.0.1:")
        port = int(server.url.rsplit(":", 1)[1])
        assert port > 0

        unknown = requests.get(
            f"{server.url}/v2/inputs", headers={"Authorization": "Key other"}, timeout=30
        )
        assert unknown.status_code == 401
        assert unknown.json()["status"]["code"] == 11009

        # the configured key passes auth: an unknown route then answers 404, not 401
        known = requests.get(
            f"{server.url}/v2/no-such-route", headers={"Authorization": "Key cli-key"}, timeout=30
        )
        assert known.status_code == 404
        assert known.json()["status"]["code"] == 11101
        assert (tmp_path / "data" / cli.DATABASE_FILE_NAME).is_file()


def test_serve_port_zero_picks_distinct_free_ports() -> None:
    with ServeProcess() as first, ServeProcess() as second:
        assert first.url != second.url
        for server in (first, second):
            answer = requests.get(f"{server.url}/v2/no-such-route", timeout=30)
            assert answer.headers["Content-Type"].startswith("application/json")


def test_serve_listens_on_the_port_it_is_given() -> None:
    port = free_port()
    with ServeProcess(port=port) as server:
        assert server.url == f"http://127.0.0.1:{port}"


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_serve_stops_cleanly_on_signal(tmp_path: Path, stop_signal: int) -> None:
    data = tmp_path / "data"
    server = ServeProcess(data=data).start()
    try:
        session = requests.Session()  # leave a keep-alive connection open while stopping
        assert session.get(f"{server.url}/v2/no-such-route", timeout=30).status_code == 404
        assert server.stop(stop_signal) == 0
        session.close()
    finally:
        server.kill()
    assert "server stopped" in server.stderr()
    # the database was closed: SQLite checkpoints and removes the WAL file on the last close
    assert (data / cli.DATABASE_FILE_NAME).is_file()
    assert not (data / f"{cli.DATABASE_FILE_NAME}-wal").exists()


@pytest.mark.parametrize("port", ["abc", "70000", "-1", "8080.5"])
def test_serve_rejects_a_bad_port(port: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["serve", "--port", port])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert "--port" in error
    assert "0 to 65535" in error


def test_serve_reports_a_port_in_use(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert cli.main(["serve", "--port", str(port)]) == 1
    error = capsys.readouterr().err
    assert f"cannot listen on 127.0.0.1:{port}" in error


def test_serve_rejects_a_data_path_that_is_a_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("x")
    assert cli.main(["serve", "--port", "0", "--data", str(not_a_directory)]) == 1
    assert "not a directory" in capsys.readouterr().err


def test_serve_without_the_server_extra_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "waitress", None)  # find_spec() now reports it missing
    assert cli.main(["serve", "--port", "0"]) == 1
    error = capsys.readouterr().err
    assert "pip install 'clarimap[server]'" in error
    assert "waitress" in error


def test_no_command_prints_help_listing_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([]) == 2
    usage = capsys.readouterr().err
    for command in ("serve", "demo"):
        assert command in usage


def test_demo_runs_every_step_and_exits_zero() -> None:
    from clarimap import demo

    finished = subprocess.run(
        [sys.executable, "-m", "clarimap", "demo"],
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    output = finished.stdout
    assert finished.returncode == 0, output + finished.stderr
    for number, step in enumerate(demo.STEPS, start=1):
        assert f"== {number}. {step.heading} ==" in output
    assert "FAILED" not in output
    photo_ids = {demo.photo_id(name) for name, _ in demo.sample_photos()}
    last_listing_step = demo.STEPS.index(demo.list_photos_again) + 1
    first_listing, _, last_listing = output.partition(f"== {last_listing_step}.")
    last_listing = last_listing.partition(f"== {last_listing_step + 1}.")[0]
    for photo in photo_ids:
        assert f"  {photo} " in first_listing
        if photo != demo.DELETED_PHOTO_ID:
            assert f"  {photo} " in last_listing
    assert f"  {demo.DELETED_PHOTO_ID} " not in last_listing
    assert '"reviewed": true' in last_listing
    expected_count = len(photo_ids) + len(demo.MEDIA_SOURCE_PHOTO_IDS) - 1
    assert f"{expected_count} photos (GET /v2/inputs)" in last_listing


def test_demo_exits_non_zero_when_a_step_fails(capsys: pytest.CaptureFixture[str]) -> None:
    import io

    from clarimap import demo

    @demo.demo_step("Ask for an input that does not exist")
    def missing_input(ctx: demo.DemoContext) -> None:
        ctx.call("GET", "inputs/no-such-input")

    out = io.StringIO()
    assert demo.run_demo(out, [demo.start_server, missing_input]) == 1
    assert "FAILED: step 2 (Ask for an input that does not exist)" in out.getvalue()
