"""The in-memory vector index behind visual search: it follows every write, and ranks exactly.

Each test compares the server's visual search (which reads :mod:`clarimap.server.vectors`)
with a brute-force cosine over the vectors stored in ``input_embeddings`` at that moment.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from clarimap.server import ServerApp, create_app, search, vectors
from clarimap.server.embedding import BUILTIN_MODEL_ID, to_blob
from clarimap.server.processing import decode_image
from tests.conftest import SAMPLES, Api
from tests.server.searchdata import png, seed_input

MODEL = BUILTIN_MODEL_ID


@pytest.fixture
def server_app(monkeypatch: pytest.MonkeyPatch) -> Iterator[ServerApp]:
    """The local server with the built-in models only (the base embedding is the descriptor)."""
    monkeypatch.setenv("CLARIMAP_DISABLE_PLUGINS", "1")
    app = create_app(":memory:", background=False)
    assert app.base_embedding.model_id == MODEL
    yield app
    app.close()


def unit_vectors(count: int, seed: int, dimensions: int = 128) -> np.ndarray:
    rng = np.random.default_rng(seed)
    matrix = rng.normal(size=(count, dimensions)).astype(np.float32)
    unit: np.ndarray = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
    return unit


def store_vector(server: ServerApp, input_id: str, vector: np.ndarray, model: str = MODEL) -> None:
    """Write a vector as a processing step or a model plugin does (INSERT OR REPLACE)."""
    with server.store.transaction() as connection:
        (seq,) = connection.execute("SELECT seq FROM inputs WHERE id = ?", (input_id,)).fetchone()
        connection.execute(
            "INSERT OR REPLACE INTO input_embeddings (seq, model_id, vector) VALUES (?, ?, ?)",
            (seq, model, to_blob(vector)),
        )


def brute_force(
    server: ServerApp, query_id: str, keep: set[str] | None = None
) -> list[tuple[str, float]]:
    """Every input of the default app with a stored vector, by cosine with ``query_id``'s."""
    with server.store.read() as connection:
        rows = connection.execute(
            "SELECT i.id, e.vector FROM inputs i JOIN input_embeddings e ON e.seq = i.seq "
            "JOIN apps a ON a.pk = i.app WHERE e.model_id = ? AND a.app_id = 'default' "
            "ORDER BY i.seq",
            (MODEL,),
        ).fetchall()
    stored = {row[0]: np.frombuffer(row[1], dtype=np.float32).astype(np.float64) for row in rows}
    query = stored[query_id]
    scored = [
        (input_id, float(vector @ query))
        for input_id, vector in stored.items()
        if keep is None or input_id in keep
    ]
    return sorted(scored, key=lambda item: -item[1])  # stable: ties stay in seq order


def visual(
    api: Api, query_id: str, filters: tuple[Any, ...] = (), per_page: int = 1000, page: int = 1
) -> list[tuple[str, float]]:
    code, body = api.post(
        "inputs/searches",
        {
            "searches": [
                {
                    "query": {
                        "filters": list(filters),
                        "ranks": [{"annotation": {"input_id": query_id}}],
                    }
                }
            ],
            "pagination": {"page": page, "per_page": per_page},
        },
    )
    assert code == 200, body
    return [(hit["input"]["id"], hit["score"]) for hit in body["hits"]]


def same_ranking(found: list[tuple[str, float]], expected: list[tuple[str, float]]) -> None:
    """Equal hits in equal order, up to scores equal within float32 rounding."""
    assert len(found) == len(expected)
    assert {i for i, _ in found} == {i for i, _ in expected}
    scores = dict(expected)
    for position, (input_id, score) in enumerate(found):
        assert score == pytest.approx(scores[input_id], abs=1e-5)
        assert score == pytest.approx(expected[position][1], abs=1e-5)  # same rank order


@pytest.fixture
def many(server_app: ServerApp) -> ServerApp:
    """300 inputs with random stored vectors; odd ones tagged ``odd`` in their metadata."""
    for number, vector in enumerate(unit_vectors(300, seed=3)):
        seed_input(server_app, f"in{number}", metadata={"odd": number % 2 == 1})
        store_vector(server_app, f"in{number}", vector)
    return server_app


def test_index_ranks_like_a_brute_force_cosine(api: Api, many: ServerApp) -> None:
    same_ranking(visual(api, "in17"), brute_force(many, "in17"))
    odd_filter = ({"annotation": {"data": {"metadata": {"odd": True}}}},)
    odd = {f"in{n}" for n in range(1, 300, 2)}
    same_ranking(visual(api, "in17", odd_filter), brute_force(many, "in17", odd))
    # pages of the top k (argpartition) join up to the full ranking
    pages = [hit for page in range(1, 9) for hit in visual(api, "in42", per_page=40, page=page)]
    same_ranking(pages, brute_force(many, "in42"))


def test_index_follows_creates_deletes_and_reprocessing(api: Api, many: ServerApp) -> None:
    visual(api, "in0")  # the table is loaded now
    index = vectors.index_of(many.store)
    app_pk = many.store.app_pk("local", "default")
    # creates: a new input's vector is found by the next search
    seed_input(many, "new")
    store_vector(many, "new", unit_vectors(1, seed=99)[0])
    found = visual(api, "new")
    assert found[0] == ("new", 1.0)
    same_ranking(found, brute_force(many, "new"))
    # deletes, one and several, through the API: never returned again
    assert api.delete("inputs/in5")[0] == 200
    assert api.delete("inputs", {"ids": ["in6", "in7", "new"]})[0] == 200
    found = visual(api, "in0")
    assert not {"in5", "in6", "in7", "new"} & {i for i, _ in found}
    same_ranking(found, brute_force(many, "in0"))
    # re-processing: a replaced vector is used, in place
    store_vector(many, "in8", unit_vectors(1, seed=123)[0])
    found = visual(api, "in8")
    assert found[0] == ("in8", 1.0)
    same_ranking(found, brute_force(many, "in8"))
    with many.store.read() as connection:
        table = index.table(connection, app_pk, MODEL)
    assert len(table) == 297  # 300 + new - in5, in6, in7, new
    # deleting every input empties the table
    assert api.delete("inputs", {"delete_all": True})[0] == 200
    with many.store.read() as connection:
        assert len(index.table(connection, app_pk, MODEL)) == 0


def test_processing_through_the_api_feeds_the_index(api: Api) -> None:
    def image(name: str) -> dict[str, Any]:
        return {"image": {"base64": base64.b64encode((SAMPLES / name).read_bytes()).decode()}}

    code, _ = api.post(
        "inputs",
        {
            "inputs": [
                {"id": "cat", "data": image("cat.jpg")},
                {"id": "rocket", "data": image("rocket.jpg")},
            ]
        },
    )
    assert code == 200
    assert [i for i, _ in visual(api, "cat")] == ["cat", "rocket"]
    code, _ = api.post("inputs", {"inputs": [{"id": "coffee", "data": image("coffee.jpg")}]})
    assert code == 200
    found = visual(api, "coffee")
    assert found[0][0] == "coffee" and len(found) == 3
    assert api.delete("inputs/cat")[0] == 200
    assert sorted(i for i, _ in visual(api, "coffee")) == ["coffee", "rocket"]


def test_reprocessing_with_the_processing_steps_replaces_the_vector(server_app: ServerApp) -> None:
    seq = seed_input(server_app, "a", image=png((220, 20, 20)))
    seed_input(server_app, "b", image=png((20, 20, 220)))
    app_pk = server_app.store.app_pk("local", "default")
    query = search.parse_current({"query": {"ranks": [{"annotation": {"input_id": "b"}}]}})
    before = search.run(server_app, app_pk, query, 1, 10).hits
    assert before[0][1] == 1.0 and before[1][1] < 0.9
    with server_app.store.transaction() as connection:  # what processing does, for the same seq
        decoded = decode_image(png((20, 20, 220))).convert("RGB")
        for step in server_app.processing_steps:
            step(connection, seq, app_pk, decoded)
    after = search.run(server_app, app_pk, query, 1, 10).hits
    assert [score for _, score in after] == [1.0, 1.0]


def test_apps_and_models_have_tables_of_their_own(server_app: ServerApp) -> None:
    seed_input(server_app, "mine", image=png((220, 20, 20)))
    seed_input(server_app, "theirs", image=png((220, 20, 20)), app=("local", "other"))
    store_vector(server_app, "mine", np.ones(4, dtype=np.float32) / 2, model="another-model")
    index = vectors.index_of(server_app.store)
    with server_app.store.read() as connection:
        mine = index.table(connection, server_app.store.app_pk("local", "default"), MODEL)
        other = index.table(connection, server_app.store.app_pk("local", "other"), MODEL)
        another = index.table(
            connection, server_app.store.app_pk("local", "default"), "another-model"
        )
    assert (len(mine), len(other), len(another)) == (1, 1, 1)
    assert (mine.dimensions, another.dimensions) == (128, 4)


def test_a_second_index_on_the_same_database_sees_every_change(tmp_path: Any) -> None:
    """Another process on the same file: its index follows the log too, trimmed or not."""
    path = tmp_path / "db.sqlite"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CLARIMAP_DISABLE_PLUGINS", "1")
        server = create_app(str(path), background=False)
    try:
        app_pk = server.store.app_pk("local", "default")
        for number, vector in enumerate(unit_vectors(20, seed=5)):
            seed_input(server, f"in{number}")
            store_vector(server, f"in{number}", vector)
        other = vectors.VectorIndex()  # as another process would hold
        with server.store.read() as connection:
            assert len(other.table(connection, app_pk, MODEL)) == 20
        with server.store.transaction() as connection:
            connection.execute("DELETE FROM inputs WHERE id IN ('in1', 'in2')")
        store_vector(server, "in3", unit_vectors(1, seed=6)[0])
        with server.store.read() as connection:
            table = other.table(connection, app_pk, MODEL)
            seqs, _ = table.cosines(unit_vectors(1, seed=6)[0])
            assert len(seqs) == 18
        # the server's own index trims the log past what it applied; the other index, behind
        # the trim point, reloads rather than miss the rows it can no longer read
        own = vectors.index_of(server.store)
        with server.store.read() as connection:
            own.table(connection, app_pk, MODEL)
        with server.store.transaction() as connection:  # in4 is seq 5 (in0 is seq 1)
            connection.execute("DELETE FROM inputs WHERE id = 'in4'")
        with server.store.read() as connection:
            own.table(connection, app_pk, MODEL)
        assert own.trim(server.store) > 0
        with server.store.read() as connection:
            assert (
                connection.execute("SELECT count(*) FROM input_embedding_changes").fetchone()[0]
                == 0
            )
            table = other.table(connection, app_pk, MODEL)
            assert len(table) == 17
            assert table.cosines(unit_vectors(1, seed=6)[0])[0].tolist() == [1, 4, *range(6, 21)]
    finally:
        server.close()


def test_candidate_scoring_reads_only_candidates_with_vectors(server_app: ServerApp) -> None:
    table = vectors.VectorTable(1, MODEL)
    matrix = unit_vectors(6, seed=8, dimensions=8)
    for seq, vector in zip([10, 20, 30, 40, 50, 60], matrix, strict=True):
        table._put(seq, vector)
    table._remove(30)
    seqs, scores = table.cosines_of(matrix[0], np.array([60, 5, 30, 10, 10, 45], dtype=np.int64))
    assert seqs.tolist() == [10, 60]
    assert scores.tolist() == pytest.approx([1.0, float(matrix[5] @ matrix[0])], abs=1e-6)
    seqs, scores = table.cosines(matrix[1])
    assert seqs.tolist() == [10, 20, 40, 50, 60]
    assert scores.tolist() == pytest.approx((matrix[[0, 1, 3, 4, 5]] @ matrix[1]).tolist())
    with pytest.raises(vectors.VectorSizeError):
        table.cosines(np.ones(3, dtype=np.float32))


def test_page_order_equals_the_full_sort_with_ties() -> None:
    rng = np.random.default_rng(11)
    for _ in range(200):
        count = int(rng.integers(1, 60))
        scores = rng.integers(0, 5, size=count).astype(np.float64) / 4  # many ties
        seqs = rng.permutation(1000)[:count].astype(np.int64)
        full = np.lexsort((seqs, -scores))
        start = int(rng.integers(0, count + 3))
        stop = start + int(rng.integers(1, 20))
        page = search._page_order(seqs, scores, start, stop)
        assert page.tolist() == full[start:stop].tolist()


def test_stored_vectors_of_unequal_length_are_a_search_error(api: Api, many: ServerApp) -> None:
    store_vector(many, "in3", np.ones(4, dtype=np.float32) / 2)
    code, body = api.post(
        "inputs/searches",
        {"searches": [{"query": {"ranks": [{"annotation": {"input_id": "in1"}}]}}]},
    )
    assert code >= 400
    assert body["status"]["code"] == 43001 and "differ" in body["status"]["details"]
