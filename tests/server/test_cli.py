"""The ``clarimap`` command line: ``serve`` (a real subprocess on 127.0.0.1) and ``demo``."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from clarimap import cli
from clarimap.demo import DemoStep
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


def section(output: str, step: DemoStep) -> str:
    """The output of one demo step: from its heading to the next heading."""
    return output.partition(f"{step.heading} ==")[2].partition("\n== ")[0]


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
    assert f"Demo finished: {len(demo.STEPS)} steps" in output

    # the upload: 8 Input.from_media in one session.begin() block became one POST
    upload = section(output, demo.upload_photos)
    photo_ids = {demo.photo_id(name) for name, _ in demo.sample_photos()}
    assert "API calls sent: 1\n" in upload
    assert re.search(rf"POST\s+/v2/inputs\s+{len(photo_ids)} inputs\s+-> 200", upload)

    first_listing = section(output, demo.list_photos)
    last_listing = section(output, demo.list_photos_again)
    for photo in photo_ids:
        assert re.search(rf"^  {photo}\s+30000 Download complete", first_listing, re.M)
        if photo != demo.DELETED_PHOTO_ID:
            assert re.search(rf"^  {photo}\s+30000 Download complete", last_listing, re.M)
    assert f"  {demo.DELETED_PHOTO_ID} " not in last_listing
    expected_count = len(photo_ids) + len(demo.MEDIA_SOURCE_PHOTO_IDS) - 1
    assert f"  {expected_count} photos" in last_listing
    listed_rows = [line for line in last_listing.splitlines() if "Download complete" in line]
    assert len(listed_rows) == expected_count
    assert all('"album": "samples"' in row and '"reviewed": true' in row for row in listed_rows)

    # ten photos edited in place: the commit sent exactly one PATCH, nothing else
    edit = section(output, demo.edit_metadata)
    assert "20 edits to 10 photos left as 1 PATCH" in edit
    assert "API calls sent: 1\n" in edit
    assert re.search(r"PATCH\s+/v2/inputs\s+merge; 10 inputs\s+-> 200", edit)

    search = section(output, demo.search_photos)
    assert re.search(r'concept="space"\)\s+astronaut, galaxies, rocket', search)
    assert re.search(r"GeoLimit\(10, \"kilometers\"\)\)\s+cat, coffee", search)
    # the geo edits went out with the autoflush of the geo query, before its search
    assert re.search(r"PATCH\s+/v2/inputs\s+merge; 3 inputs.*\n.*filter geo; page 1", search)

    delete = section(output, demo.delete_photo)
    assert re.search(r"DELETE\s+/v2/inputs\s+1 id\s+-> 200", delete)
    assert re.search(rf"GET\s+/v2/inputs/{demo.DELETED_PHOTO_ID}\s+-> 404", delete)


def test_demo_keep_leaves_a_database_that_serve_opens(tmp_path: Path) -> None:
    data = tmp_path / "tour"
    finished = subprocess.run(
        [sys.executable, "-m", "clarimap", "demo", "--keep", str(data)],
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert finished.returncode == 0, finished.stdout + finished.stderr
    database = data / cli.DATABASE_FILE_NAME
    assert f'clarimap.connect("local://{database}")' in finished.stdout
    assert f"clarimap serve --data {data}" in finished.stdout

    with ServeProcess(data=data) as server:
        answer = requests.get(
            f"{server.url}/v2/inputs?per_page=100", headers={"Authorization": "Key k"}, timeout=30
        ).json()
        listed = sorted(item["id"] for item in answer["inputs"])
        assert "clock" not in listed and "cat" in listed and len(listed) == 9
        model = requests.get(
            f"{server.url}/v2/models/demo-things", headers={"Authorization": "Key k"}, timeout=30
        ).json()
        assert model["model"]["model_version"]["status"]["code"] == 21100

    again = subprocess.run(
        [sys.executable, "-m", "clarimap", "demo", "--keep", str(data)],
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert again.returncode == 1
    assert "already exists" in again.stderr


def test_demo_keep_names_its_option_when_the_folder_cannot_hold_a_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a_file = tmp_path / "photo.jpg"
    a_file.write_bytes(b"not a folder")
    assert cli.main(["demo", "--keep", str(a_file)]) == 1
    assert f"clarimap demo: error: --keep {a_file}: not a directory" in capsys.readouterr().err
    assert cli.main(["demo", "--keep", str(a_file / "below")]) == 1
    error = capsys.readouterr().err
    assert f"--keep {a_file / 'below'}: cannot create the directory" in error


def test_demo_exits_non_zero_when_a_step_fails(capsys: pytest.CaptureFixture[str]) -> None:
    import io

    from clarimap import Input, demo

    @demo.demo_step("Ask for an input that does not exist")
    def missing_input(ctx: demo.DemoContext) -> None:
        ctx.orm.query(Input).where(id="no-such-input").one()

    out = io.StringIO()
    assert demo.run_demo(out, [demo.connect_session, missing_input]) == 1
    text = out.getvalue()
    assert "FAILED: step 2 (Ask for an input that does not exist): QueryError" in text
    assert "Demo finished" not in text


def test_serve_reports_a_data_directory_that_takes_no_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "clarimap.sqlite3").mkdir()  # the database's place is taken by a directory
    assert cli.main(["serve", "--port", "0", "--data", str(tmp_path)]) == 1
    assert "cannot open the database" in capsys.readouterr().err


@pytest.mark.parametrize(("level", "shown"), [("info", True), ("warning", False)])
def test_serve_logs_resumed_processing_at_info(tmp_path: Path, level: str, shown: bool) -> None:
    from clarimap.server import create_app

    data = tmp_path / "data"
    data.mkdir()
    app = create_app(str(data / cli.DATABASE_FILE_NAME), background=False)
    with app.store.transaction() as connection:  # an input a stopped server left pending
        connection.execute(
            "INSERT INTO apps (user_id, app_id, created_at) VALUES ('local', 'default', 'x') "
            "ON CONFLICT DO NOTHING"
        )
        app_pk = connection.execute("SELECT pk FROM apps WHERE app_id = 'default'").fetchone()[0]
        connection.execute(
            "INSERT INTO inputs (app, id, kind, url, media, data, status_code, created_at, "
            "modified_at) VALUES (?, 'left', 'image', 'http://127.0.0.1:9/none.jpg', "
            "'{\"url\": \"http://127.0.0.1:9/none.jpg\"}', '{}', 30001, 'x', 'x')",
            (app_pk,),
        )
    app.close()
    with ServeProcess(data=data, extra_args=["--log-level", level]) as server:
        deadline = time.monotonic() + 60
        while "resuming" not in server.stderr() and shown and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.stop() == 0
        assert ("clarimap: resuming the processing of 1 inputs" in server.stderr()) is shown
