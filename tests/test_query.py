"""The query language: values, builders, laziness, results through the session, bad input."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import clarimap
from clarimap.entities import Concept, GeoLimit, GeoPoint, Input, Model
from clarimap.errors import ValidationError
from clarimap.query import Query, QueryError, fields
from clarimap.server import ServerApp, create_app
from clarimap.session import Session
from clarimap.transport.base import RecordingTransport
from tests.conftest import SAMPLES

f = fields(Input)


@pytest.fixture
def local(monkeypatch: pytest.MonkeyPatch) -> Iterator[ServerApp]:
    monkeypatch.setenv("CLARIMAP_DISABLE_PLUGINS", "1")  # built-in models: fast, deterministic
    app = create_app(":memory:", background=False)
    yield app
    app.close()


@pytest.fixture
def recorder() -> list[RecordingTransport]:
    return []


@pytest.fixture
def session(local: ServerApp, recorder: list[RecordingTransport]) -> Iterator[Session]:
    def wrap(transport: Any) -> Any:
        recording = RecordingTransport(transport)
        recorder.append(recording)
        return recording

    with clarimap.connect("local://:memory:", local_app=local, wrap_transport=wrap) as opened:
        yield opened


@pytest.fixture
def photos(session: Session) -> Session:
    with session.begin():
        for index, name in enumerate(["cat", "coffee", "rocket", "galaxies", "clock"]):
            session.add(
                Input.from_media(
                    SAMPLES / f"{name}.jpg",
                    id=name,
                    concepts=[name, "photo"],
                    not_concepts=["dog"] if name == "cat" else [],
                    metadata={"index": index, "group": {"even": index % 2 == 0}},
                    geo=GeoPoint(longitude=10.0, latitude=float(index)),
                )
            )
    return session


def searches(recorder: list[RecordingTransport]) -> int:
    return recorder[0].count("POST", "/searches")


# -- values ------------------------------------------------------------------------------------


def test_builders_return_new_queries(session: Session) -> None:
    base = session.query(Input)
    refined = base.where(concept="cat")
    assert base.conditions == () and len(refined.conditions) == 1
    assert refined.limit(3) is not refined and refined.max_items is None
    assert base.similar_to(input_id="x").ranks and not base.ranks
    assert base.where(concept="cat") == refined  # values compare by content
    with pytest.raises(AttributeError):
        refined.conditions = ()  # type: ignore[misc]


def test_nothing_is_sent_until_results_are_asked(
    photos: Session, recorder: list[RecordingTransport]
) -> None:
    before = searches(recorder)
    query = photos.query(Input).where(concept="photo").similar_to(input_id="cat").limit(2)
    query.compile()
    iterator = iter(query)
    assert searches(recorder) == before
    first = next(iterator)
    assert searches(recorder) == before + 1
    assert first.id == "cat"


def test_iteration_pages_lazily_with_the_page_size(
    photos: Session, recorder: list[RecordingTransport]
) -> None:
    before = searches(recorder)
    found = [item.id for item in photos.query(Input).per_page(2)]
    assert found == ["cat", "coffee", "rocket", "galaxies", "clock"]
    assert searches(recorder) == before + 3  # 2 + 2 + 1 (a short page ends it)


def test_slices_limit_offset_first_one_page_count(photos: Session) -> None:
    query = photos.query(Input).where(concept="photo")
    assert [i.id for i in query[1:3]] == ["coffee", "rocket"]
    assert query[4].id == "clock"
    with pytest.raises(IndexError):
        query[5]
    assert [i.id for i in query.offset(3)] == ["galaxies", "clock"]
    assert [i.id for i in query.offset(1).limit(2)] == ["coffee", "rocket"]
    assert query.first().id == "cat"  # type: ignore[union-attr]
    assert query.where(concept="zebra").first() is None
    assert query.where(id="rocket").one().id == "rocket"
    with pytest.raises(QueryError, match="more than one"):
        query.one()
    assert [i.id for i in query.page(2, per_page=2)] == ["rocket", "galaxies"]
    assert query.count() == 5
    assert query.using("legacy").count() == 5
    assert query.offset(1).limit(3).count() == 3
    assert query.where(metadata={"group": {"even": True}}).count() == 3


def test_scores_are_available(photos: Session) -> None:
    hits = list(photos.query(Input).similar_to(SAMPLES / "rocket.jpg").hits())
    assert hits[0].item.id == "rocket" and hits[0].score == pytest.approx(1.0, abs=1e-4)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert {h.score for h in photos.query(Input).where(concept="cat").hits()} == {1.0}


@pytest.mark.parametrize("dialect", ["current", "legacy"])
def test_filters_in_both_dialects(photos: Session, dialect: Any) -> None:
    query = photos.query(Input).using(dialect)

    def ids(q: Query[Input]) -> list[str]:
        return [i.id for i in q]

    assert ids(query.where(concept="cat")) == ["cat"]
    assert ids(query.where(concept="dog", value=False)) == ["cat"]
    assert ids(query.where(metadata={"index": 2})) == ["rocket"]
    assert ids(query.where(f.metadata["group"]["even"] == False)) == ["coffee", "galaxies"]  # noqa: E712
    near = query.where(near=GeoPoint(10.0, 0.0), within=GeoLimit(120, "kilometers"))
    assert ids(near) == ["cat", "coffee"]
    assert ids(query.where(id="clock")) == ["clock"]
    assert ids(query.where(concept="photo").similar_to(input_id="galaxies"))[0] == "galaxies"


def test_negation_runs_in_the_current_dialect(photos: Session) -> None:
    query = photos.query(Input).where(~f.concepts.contains("cat") & ~(f.id == "clock"))
    assert [i.id for i in query] == ["coffee", "rocket", "galaxies"]
    with pytest.raises(QueryError):
        query.using("legacy").all()


def test_results_go_through_the_identity_map(photos: Session) -> None:
    held = photos.get(Input, "cat")
    assert held is not None
    held.metadata["note"] = "local edit"
    with photos.no_autoflush():
        found = photos.query(Input).where(id="cat").one()
    assert found is held and found.metadata["note"] == "local edit"


def test_autoflush_lets_a_query_see_the_sessions_writes(photos: Session) -> None:
    photo = photos.get(Input, "rocket")
    assert photo is not None
    photo.metadata["reviewed"] = True
    assert [i.id for i in photos.query(Input).where(metadata={"reviewed": True})] == ["rocket"]


def test_bulk_update_and_delete(photos: Session) -> None:
    assert (
        photos.query(Input)
        .where(metadata={"group": {"even": True}})
        .update(metadata={"group": {"checked": "yes"}})
        == 3
    )
    checked = photos.query(Input).where(metadata={"group": {"checked": "yes", "even": True}})
    assert checked.count() == 3
    assert photos.query(Input).where(concept="cat").delete() == 1
    assert photos.query(Input).count() == 4
    assert photos.get(Input, "cat") is None


def test_concept_and_model_queries(photos: Session) -> None:
    names = sorted(c.id for c in photos.query(Concept).where(name="c*"))
    assert names == ["cat", "clock", "coffee"]
    assert "photo" in [c.id for c in photos.query(Concept)]
    models = photos.query(Model).where(name="*").all()
    assert models and all(isinstance(m, Model) for m in models)


# -- bad input ---------------------------------------------------------------------------------


def test_bad_input_is_refused_when_building(session: Session) -> None:
    query = session.query(Input)
    with pytest.raises(ValidationError, match="unit"):
        query.where(near=GeoPoint(0, 0), within=GeoLimit(3, "furlongs"))  # type: ignore[arg-type]
    with pytest.raises(QueryError, match=r"\[0, 1\]"):
        query.similar_to(input_id="x", crop=[0, 0, 1.5, 1])
    with pytest.raises(QueryError, match="top < bottom"):
        query.similar_to(input_id="x", crop=[0.5, 0, 0.2, 1])
    with pytest.raises(QueryError, match="per_page"):
        query.per_page(1001)
    with pytest.raises(QueryError, match="per_page"):
        query.page(1, per_page=5000)
    with pytest.raises(QueryError, match="unknown filter"):
        query.where(colour="red")
    with pytest.raises(QueryError, match="metadata"):
        query.where(metadata=["not", "a", "dict"])
    with pytest.raises(QueryError, match="near"):
        query.where(within=GeoLimit(1))
    with pytest.raises(QueryError, match="value"):
        query.where(concept="x", value=0.5)
    with pytest.raises(QueryError, match="no such file"):
        query.similar_to("missing.jpg")
    with pytest.raises(QueryError, match="dialect"):
        query.using("sql")  # type: ignore[arg-type]
    with pytest.raises(QueryError, match="cannot query"):
        session.query(dict)  # type: ignore[arg-type]


def test_server_errors_are_typed(session: Session) -> None:
    from clarimap.errors import ApiError, InvalidArgument

    query = session.query(Input).similar_to(input_id="nobody")
    with pytest.raises(InvalidArgument) as raised:
        query.all()
    assert raised.value.code == 40002  # type: ignore[attr-defined]
    assert isinstance(raised.value, ApiError)
