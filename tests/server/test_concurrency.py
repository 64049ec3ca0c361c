"""The local server stays correct under concurrent use: many client threads, two processes, ORM.

Every test here is bounded by a number of operations (not by time) and binds 127.0.0.1 only.

* Client threads against one waitress server, each with its own inputs and a reference model of
  what it acknowledged (creates, deletes, metadata patches), while the background processor
  embeds the new inputs. Afterwards the server must agree with every thread's model, its counts
  must add up, the database must pass ``PRAGMA integrity_check`` and visual search must equal a
  brute-force cosine over ``input_embeddings``.
* The same workload spread over two ``clarimap serve`` processes on one data directory: no
  "database is locked" error, and each process sees the other's inputs and embeddings.
* Two ORM sessions in two threads committing edits to disjoint inputs.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import io
import random
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests
from PIL import Image

import clarimap
from clarimap import Input
from clarimap.server import ServerApp, create_app
from clarimap.server.http import HTTPServer
from clarimap.server.modelzoo import COLOR_MODEL_ID
from clarimap.server.store import SCHEMA_VERSION, Store
from tests.serve_process import ServeProcess

THREADS = 6
OPERATIONS_PER_THREAD = 150
IDLE_TIMEOUT_SECONDS = 120.0  # a bound on waiting, never an assertion on speed


def noise_png(seed: int, size: int = 24) -> str:
    """A small PNG of random colours (distinct embeddings), base64-encoded."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, size=(size, size, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


# -- the reference model of metadata patches (section 6 of the wire reference, metadata only) --


def merged(old: Any, new: Any) -> Any:
    """``old`` after a merge of ``new`` inside ``metadata`` (objects merge, lists append)."""
    if isinstance(old, dict) and isinstance(new, dict) and new:
        result = copy.deepcopy(old)
        for key, value in new.items():
            result[key] = merged(result.get(key), value)
        return result
    if isinstance(old, list) and isinstance(new, list) and new:
        return [*old, *new]
    return copy.deepcopy(new)


def removed(old: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """``old`` after a remove of ``patch`` (``true`` deletes a key, an object descends)."""
    result = copy.deepcopy(old)
    for key, value in patch.items():
        if value is True:
            result.pop(key, None)
        elif isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = removed(result[key], value)
    return result


class Problems:
    """Every answer that was a 5xx, not JSON, or not what the thread's model predicted."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.items: list[str] = []
        self.calls = 0

    def add(self, what: str) -> None:
        with self.lock:
            self.items.append(what)


class Worker(threading.Thread):
    """One client: its own inputs, a model of their metadata, a seeded mix of operations."""

    def __init__(
        self, number: int, urls: list[str], problems: Problems, operations: int, key: str = "k"
    ) -> None:
        super().__init__(name=f"client-{number}", daemon=True)
        self.number = number
        self.urls = urls
        self.problems = problems
        self.operations = operations
        self.headers = {"Authorization": f"Key {key}"}
        self.random = random.Random(number)
        self.live: dict[str, dict[str, Any]] = {}  # id -> metadata, as acknowledged
        self.deleted: set[str] = set()
        self.created = 0
        self.counter = 0
        self.done: dict[str, int] = {}
        self.crashed: BaseException | None = None

    # -- calls ----------------------------------------------------------------------------------

    def call(
        self, method: str, path: str, body: Any = None, *, query: str = "", url: str | None = None
    ) -> tuple[int, dict[str, Any]]:
        base = url or self.random.choice(self.urls)
        target = f"{base}/v2/{path}" + (f"?{query}" if query else "")
        response = self.session.request(
            method, target, json=body, headers=self.headers, timeout=120
        )
        with self.problems.lock:
            self.problems.calls += 1
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            self.problems.add(f"{method} {path}: non-JSON answer {response.text[:200]!r}")
            return response.status_code, {}
        if response.status_code >= 500:
            self.problems.add(f"{method} {path}: HTTP {response.status_code} {answer}")
        return response.status_code, answer

    def expect_ok(self, what: str, code: int, answer: dict[str, Any]) -> bool:
        if code == 200 and answer.get("status", {}).get("code") == 10000:
            return True
        self.problems.add(f"client {self.number} {what}: HTTP {code} {str(answer)[:300]}")
        return False

    # -- operations -----------------------------------------------------------------------------

    def create(self) -> None:
        inputs = []
        for _ in range(self.random.randint(2, 5)):
            self.counter += 1
            input_id = f"t{self.number}-{self.counter}"
            metadata = {"owner": f"t{self.number}", "nest": {"born": str(self.counter)}}
            inputs.append(
                {
                    "id": input_id,
                    "data": {
                        "image": {"base64": noise_png(self.number * 10_000 + self.counter)},
                        "concepts": [{"id": f"c{self.counter % 3}", "value": 1}],
                        "metadata": metadata,
                    },
                }
            )
        code, answer = self.call("POST", "inputs", {"inputs": inputs})
        if self.expect_ok("create", code, answer):
            for item in inputs:
                self.live[item["id"]] = copy.deepcopy(item["data"]["metadata"])
                self.created += 1

    def patch_merge(self) -> None:
        if not self.live:
            return
        input_id = self.random.choice(sorted(self.live))
        shape = self.random.randrange(3)
        value = f"v{self.random.randrange(1000)}"
        if shape == 0:
            patch: dict[str, Any] = {f"k{self.random.randrange(4)}": value}
        elif shape == 1:
            patch = {"nest": {f"n{self.random.randrange(3)}": value}}
        else:
            patch = {"tags": [value]}
        code, answer = self.call(
            "PATCH",
            "inputs",
            {"action": "merge", "inputs": [{"id": input_id, "data": {"metadata": patch}}]},
        )
        if self.expect_ok("merge", code, answer):
            self.live[input_id] = merged(self.live[input_id], patch)
            returned = answer["inputs"][0]["data"].get("metadata")
            if returned != self.live[input_id]:
                self.problems.add(f"merge of {input_id} answered {returned}, expected {self.live}")

    def patch_remove(self) -> None:
        if not self.live:
            return
        input_id = self.random.choice(sorted(self.live))
        metadata = self.live[input_id]
        choices: list[dict[str, Any]] = [{key: True} for key in metadata if key != "owner"]
        choices += [{"nest": {key: True}} for key in metadata.get("nest") or {}]
        if not choices:
            return
        patch = self.random.choice(choices)
        code, answer = self.call(
            "PATCH",
            "inputs",
            {"action": "remove", "inputs": [{"id": input_id, "data": {"metadata": patch}}]},
        )
        if self.expect_ok("remove", code, answer):
            self.live[input_id] = removed(metadata, patch)

    def delete(self) -> None:
        if len(self.live) < 3:
            return
        doomed = self.random.sample(sorted(self.live), self.random.randint(1, 2))
        if len(doomed) == 1:
            code, answer = self.call("DELETE", f"inputs/{doomed[0]}")
        else:
            code, answer = self.call("DELETE", "inputs", {"ids": doomed})
        if self.expect_ok("delete", code, answer):
            for input_id in doomed:
                del self.live[input_id]
                self.deleted.add(input_id)

    def read_back(self) -> None:
        """One own input, from any server: it has exactly the acknowledged metadata."""
        if not self.live:
            return
        input_id = self.random.choice(sorted(self.live))
        for url in self.urls:
            code, answer = self.call("GET", f"inputs/{input_id}", url=url)
            if self.expect_ok("get", code, answer):
                found = answer["input"]["data"].get("metadata")
                if found != self.live[input_id]:
                    self.problems.add(f"{url} has {input_id} = {found}, expected {self.live}")

    def list_page(self) -> None:
        page = self.random.randint(1, 3)
        code, answer = self.call("GET", "inputs", query=f"page={page}&per_page=20")
        self.expect_ok("list", code, answer)

    def search_own(self) -> None:
        """A metadata filter on the owner (only this thread changes those): exactly its live set."""
        deleted_before = set(self.deleted)
        body: dict[str, Any] = {
            "searches": [
                {
                    "query": {
                        "filters": [
                            {"annotation": {"data": {"metadata": {"owner": f"t{self.number}"}}}}
                        ]
                    }
                }
            ],
            "pagination": {"page": 1, "per_page": 1000},
        }
        if self.random.random() < 0.5:  # with a concept filter too
            concept = f"c{self.random.randrange(3)}"
            body["searches"][0]["query"]["filters"].append(
                {"annotation": {"data": {"concepts": [{"id": concept, "value": 1}]}}}
            )
        code, answer = self.call("POST", "inputs/searches", body)
        if not self.expect_ok("search", code, answer):
            return
        found = {hit["input"]["id"] for hit in answer.get("hits") or []}
        if len(body["searches"][0]["query"]["filters"]) == 1 and found != set(self.live):
            self.problems.add(
                f"client {self.number} metadata search: missing {set(self.live) - found}, "
                f"extra {found - set(self.live)}"
            )
        if found & deleted_before or not found <= set(self.live):
            self.problems.add(f"client {self.number} search found {found - set(self.live)}")

    def search_visual(self) -> None:
        deleted_before = set(self.deleted)
        body = {
            "searches": [
                {
                    "query": {
                        "ranks": [{"annotation": {"data": {"image": {"base64": noise_png(7)}}}}]
                    }
                }
            ],
            "pagination": {"page": 1, "per_page": 500},
        }
        code, answer = self.call("POST", "inputs/searches", body)
        if self.expect_ok("visual search", code, answer):
            found = {hit["input"]["id"] for hit in answer.get("hits") or []}
            if found & deleted_before:
                self.problems.add(f"visual search found deleted {found & deleted_before}")

    def predict_colors(self) -> None:
        code, answer = self.call(
            "POST",
            f"models/{COLOR_MODEL_ID}/outputs",
            {"inputs": [{"data": {"image": {"base64": noise_png(self.random.randrange(50))}}}]},
        )
        if self.expect_ok("predict", code, answer) and not answer["outputs"][0]["data"].get(
            "colors"
        ):
            self.problems.add(f"colour prediction without colours: {str(answer)[:300]}")

    def status_counts(self) -> None:
        code, answer = self.call("GET", "inputs/status")
        self.expect_ok("status", code, answer)

    def run(self) -> None:
        operations = [
            (self.create, 5),
            (self.patch_merge, 6),
            (self.patch_remove, 3),
            (self.delete, 2),
            (self.read_back, 2),
            (self.list_page, 2),
            (self.search_own, 2),
            (self.search_visual, 1),
            (self.predict_colors, 1),
            (self.status_counts, 1),
        ]
        functions = [function for function, _ in operations]
        weights = [weight for _, weight in operations]
        self.session = requests.Session()
        try:
            self.create()
            for _ in range(self.operations):
                operation = self.random.choices(functions, weights)[0]
                operation()
                self.done[operation.__name__] = self.done.get(operation.__name__, 0) + 1
        except BaseException as error:  # reported by the test
            self.crashed = error
        finally:
            self.session.close()


def run_workers(urls: list[str], threads: int, operations: int) -> tuple[list[Worker], Problems]:
    problems = Problems()
    workers = [Worker(number, urls, problems, operations) for number in range(threads)]
    started = time.monotonic()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(300)
        assert not worker.is_alive(), f"{worker.name} did not finish"
        assert worker.crashed is None, f"{worker.name} crashed: {worker.crashed!r}"
    done: dict[str, int] = {}
    for worker in workers:
        for name, count in worker.done.items():
            done[name] = done.get(name, 0) + count
    print(  # shown with pytest -s: what the run did
        f"{threads} threads, {len(urls)} server(s): {problems.calls} calls in "
        f"{time.monotonic() - started:.1f} s; operations {done}; "
        f"{sum(w.created for w in workers)} inputs created, "
        f"{sum(len(w.deleted) for w in workers)} deleted"
    )
    return workers, problems


def wait_until_processed(url: str) -> dict[str, int]:
    deadline = time.monotonic() + IDLE_TIMEOUT_SECONDS
    while True:
        counts: dict[str, int] = requests.get(f"{url}/v2/inputs/status", timeout=60).json()[
            "counts"
        ]
        if counts["to_process"] + counts["processing"] == 0 or time.monotonic() > deadline:
            return counts
        time.sleep(0.1)


def all_inputs(url: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    page = 1
    while True:
        answer = requests.get(
            f"{url}/v2/inputs", params={"page": page, "per_page": 500}, timeout=60
        )
        assert answer.status_code == 200, answer.text[:300]
        batch = answer.json()["inputs"]
        if not batch:
            return found
        for item in batch:
            assert item["id"] not in found, f"{item['id']} listed twice"
            found[item["id"]] = item
        page += 1


def brute_force(database: Path, model_id: str, query_id: str) -> dict[str, float]:
    """Every live input's cosine with ``query_id``'s stored vector, from the file directly."""
    connection = sqlite3.connect(database)
    try:
        rows = connection.execute(
            "SELECT i.id, e.vector FROM inputs i JOIN input_embeddings e ON e.seq = i.seq "
            "WHERE e.model_id = ?",
            (model_id,),
        ).fetchall()
    finally:
        connection.close()
    stored = {row[0]: np.frombuffer(row[1], dtype=np.float32).astype(np.float64) for row in rows}
    query = stored[query_id]
    return {input_id: float(vector @ query) for input_id, vector in stored.items()}


def check_final_state(
    urls: list[str], database: Path, model_id: str, workers: list[Worker]
) -> None:
    """Every server agrees with every thread's model; counts, integrity and visual search hold."""
    expected = {input_id: meta for worker in workers for input_id, meta in worker.live.items()}
    for url in urls:
        counts = wait_until_processed(url)
        assert counts == {
            "processed": len(expected),
            "to_process": 0,
            "errors": 0,
            "processing": 0,
        }, counts
        listed = all_inputs(url)
        assert set(listed) == set(expected)
        wrong = {
            input_id: (item["data"].get("metadata"), expected[input_id])
            for input_id, item in listed.items()
            if item["data"].get("metadata") != expected[input_id]
        }
        assert wrong == {}
    connection = sqlite3.connect(database)
    try:
        assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert connection.execute("PRAGMA foreign_key_check").fetchall() == []
    finally:
        connection.close()
    query_id = sorted(expected)[len(expected) // 2]
    cosines = brute_force(database, model_id, query_id)
    assert set(cosines) == set(expected)  # every live input processed, no vector left behind
    for url in urls:
        answer = requests.post(
            f"{url}/v2/inputs/searches",
            json={
                "searches": [{"query": {"ranks": [{"annotation": {"input_id": query_id}}]}}],
                "pagination": {"page": 1, "per_page": 1000},
            },
            timeout=60,
        )
        assert answer.status_code == 200, answer.text[:300]
        hits = {hit["input"]["id"]: hit["score"] for hit in answer.json()["hits"]}
        assert set(hits) == set(expected)
        for input_id, score in hits.items():
            assert score == pytest.approx(cosines[input_id], abs=1e-5)


@pytest.fixture
def no_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    """Built-in models only (the base embedding is the built-in descriptor, fast everywhere)."""
    monkeypatch.setenv("CLARIMAP_DISABLE_PLUGINS", "1")


@pytest.fixture
def threaded_server(tmp_path: Path, no_plugins: None) -> Iterator[tuple[ServerApp, HTTPServer]]:
    app = create_app(str(tmp_path / "db.sqlite3"), background=True)
    server = HTTPServer(app, threads=8).start()
    try:
        yield app, server
    finally:
        server.close()
        app.close()


def test_client_threads_against_one_server_agree_with_their_models(
    threaded_server: tuple[ServerApp, HTTPServer], tmp_path: Path
) -> None:
    app, server = threaded_server
    workers, problems = run_workers([server.url], THREADS, OPERATIONS_PER_THREAD)
    assert problems.items == []
    assert all(worker.done.get("create") for worker in workers)
    assert sum(len(worker.deleted) for worker in workers) > 0
    assert app.processor.wait_idle(IDLE_TIMEOUT_SECONDS)
    check_final_state([server.url], tmp_path / "db.sqlite3", app.base_embedding.model_id, workers)


def test_two_server_processes_on_one_directory_share_everything(
    tmp_path: Path, no_plugins: None
) -> None:
    data = tmp_path / "data"
    first, second = ServeProcess(data=data), ServeProcess(data=data)
    with contextlib.ExitStack() as stop_both:
        # started at the same moment on a directory with no database yet: both create it
        starters = []
        for server in (first, second):
            stop_both.push(server)  # its __exit__ stops it
            starters.append(threading.Thread(target=server.start))
        for starter in starters:
            starter.start()
        for starter in starters:
            starter.join(60)
        assert first.url and second.url, first.stderr() + second.stderr()
        urls = [first.url, second.url]
        workers, problems = run_workers(urls, THREADS, 100)
        assert problems.items == [], "\n".join(problems.items[:5])
        from clarimap import cli
        from clarimap.server.embedding import BUILTIN_MODEL_ID

        check_final_state(urls, data / cli.DATABASE_FILE_NAME, BUILTIN_MODEL_ID, workers)
        for process in (first, second):
            assert "database is locked" not in process.stderr()
            assert "Traceback" not in process.stderr()


def test_two_orm_sessions_in_two_threads_commit_disjoint_edits(
    threaded_server: tuple[ServerApp, HTTPServer],
) -> None:
    _, server = threaded_server
    per_session = 6
    rounds = 8
    with clarimap.connect(server.url, api_key="k") as setup:
        for number in range(2 * per_session):
            setup.add(
                Input.from_media(
                    base64.b64decode(noise_png(number)), id=f"orm{number}", metadata={"n": "0"}
                )
            )
        setup.commit()
    errors: list[BaseException] = []
    committed: dict[str, dict[str, Any]] = {}
    committed_lock = threading.Lock()

    def edit(first: int) -> None:
        rng = random.Random(first)
        try:
            with clarimap.connect(server.url, api_key="k") as session:
                mine = [session.get(Input, f"orm{first + i}") for i in range(per_session)]
                for round_number in range(rounds):
                    for item in rng.sample(mine, 3):
                        assert item is not None
                        item.metadata[f"r{rng.randrange(3)}"] = f"{first}-{round_number}"
                        if rng.random() < 0.3 and "n" in item.metadata:
                            del item.metadata["n"]
                        if rng.random() < 0.5:
                            item.concepts.append(f"k{round_number}")
                    session.commit()
                with committed_lock:
                    for item in mine:
                        assert item is not None
                        committed[item.id] = {
                            "metadata": dict(item.metadata),
                            "concepts": sorted(c.id for c in item.concepts),
                        }
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=edit, args=(first,)) for first in (0, per_session)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    assert len(committed) == 2 * per_session
    with clarimap.connect(server.url, api_key="k") as fresh:
        read = {
            item.id: {
                "metadata": dict(item.metadata),
                "concepts": sorted(c.id for c in item.concepts),
            }
            for item in fresh.query(Input).all()
        }
    assert read == committed


def test_app_pk_of_a_new_app_created_by_two_stores_at_once(tmp_path: Path) -> None:
    """Two processes (two connections) meeting a new app at the same time get the same key."""
    path = tmp_path / "db.sqlite3"
    stores = [Store.open(path), Store.open(path)]
    try:
        for number in range(20):
            app = ("local", f"app{number}")
            barrier = threading.Barrier(2)
            keys: list[int] = []
            failures: list[BaseException] = []

            def meet(
                store: Store,
                app: tuple[str, str] = app,
                barrier: threading.Barrier = barrier,
                keys: list[int] = keys,
                failures: list[BaseException] = failures,
            ) -> None:
                barrier.wait()
                try:
                    keys.append(store.app_pk(*app))
                except BaseException as error:
                    failures.append(error)

            threads = [threading.Thread(target=meet, args=(store,)) for store in stores]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(30)
            assert failures == []
            assert len(keys) == 2 and keys[0] == keys[1]
    finally:
        for store in stores:
            store.close()


def test_a_new_app_met_inside_a_read_while_another_process_writes(tmp_path: Path) -> None:
    """A read transaction whose snapshot another process has moved past can still meet a new app.

    (Writing through such a snapshot fails at once with "database is locked", no busy wait.)
    """
    path = tmp_path / "db.sqlite3"
    mine, other = Store.open(path), Store.open(path)
    try:
        other_pk = other.app_pk("local", "elsewhere")
        with mine.read() as connection:
            connection.execute("SELECT count(*) FROM inputs").fetchone()  # the snapshot begins
            with other.transaction() as writer:
                writer.execute("UPDATE apps SET created_at = created_at WHERE pk = ?", (other_pk,))
            new_pk = mine.app_pk("local", "new-app")
        assert new_pk == other.app_pk("local", "new-app") != other_pk
        assert mine.app_pk("local", "elsewhere") == other_pk
    finally:
        mine.close()
        other.close()


def test_stores_opened_at_once_on_a_new_file_migrate_it_once(tmp_path: Path) -> None:
    """Two servers started together on a new directory: the second must not re-run migrations."""
    failures: list[BaseException] = []
    for number in range(8):
        path = tmp_path / f"db{number}.sqlite3"
        barrier = threading.Barrier(3)

        def open_store(path: Path = path, barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            try:
                Store.open(path).close()
            except BaseException as error:
                failures.append(error)

        threads = [threading.Thread(target=open_store) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        connection = sqlite3.connect(path)
        try:
            assert connection.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        finally:
            connection.close()
    assert failures == []
