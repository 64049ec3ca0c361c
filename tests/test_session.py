"""The session against the local server, in process and over HTTP: calls sent, state read back."""

# ruff: noqa: F811  (the fixtures imported from tests.orm_support are redefined as arguments)
from __future__ import annotations

import gc
import math
from pathlib import Path

import pytest

import clarimap
from clarimap import (
    ConceptAnnotation,
    ConfigurationError,
    FlushError,
    GeoPoint,
    Image,
    Input,
    InputCounts,
    Model,
    SessionError,
    ValidationError,
    WaitTimeoutError,
)
from clarimap.entities import Concept
from tests.conftest import SAMPLES
from tests.orm_support import Connected, connected, orm_app, tiny_png  # noqa: F401


def new_inputs(count: int, start: int = 0) -> list[Input]:
    return [
        Input(image=Image(base64=tiny_png(start + n)), metadata={"n": start + n, "owner": "ana"})
        for n in range(count)
    ]


def state(entity: Input) -> tuple[object, ...]:
    """What the server must hold for an input (concept order is not part of it)."""
    return (
        entity.id,
        dict(entity.metadata),
        sorted((c.id, c.value) for c in entity.concepts),
        entity.geo,
        sorted(entity.regions, key=lambda region: region.id),
    )


def test_add_commit_and_read_back(connected: Connected) -> None:
    session = connected.session
    photo = Input.from_media(
        SAMPLES / "cat.jpg",
        concepts=["cat"],
        not_concepts=["dog"],
        metadata={"owner": "ana", "size": {"w": 1}},
        geo=(2.35, 48.85),
    )
    with session.begin():
        session.add(photo)
    assert connected.recorder.count("POST", "/inputs") == 1
    assert photo.status is not None and photo.status.code == 30000
    assert photo.created_at is not None and photo.created_at.tzinfo is not None
    assert session.get(Input, photo.id) is photo  # identity map: no call
    assert connected.recorder.count("GET") == 0

    fresh = connected.fresh().get(Input, photo.id)
    assert fresh is not None and fresh is not photo
    assert state(fresh) == state(photo)
    assert fresh.not_concept_ids == ["dog"]
    assert fresh.metadata["size"] == {"w": 1.0}


def test_thousand_metadata_edits_send_eight_patch_calls(connected: Connected) -> None:
    session = connected.session
    session.add_all(new_inputs(1000))
    session.commit()
    assert connected.recorder.count("POST", "/inputs") == math.ceil(1000 / 128)

    reader = connected.fresh()
    loaded = [reader._load(Input, wire) for wire in _all_inputs(reader)]
    assert len(loaded) == 1000
    recorder_calls_before = len(connected.recorder.calls)
    del session  # the first session is not used below

    counting = connected.open(wrap_transport=lambda t: t)
    loaded = [counting._load(Input, wire) for wire in _all_inputs(reader)]
    for photo in loaded:
        photo.metadata["reviewed"] = True
    from clarimap.transport.base import RecordingTransport

    recorder = RecordingTransport(counting.transport)
    counting.transport = recorder  # type: ignore[assignment]
    counting.commit()
    assert recorder.count() == 8
    assert recorder.count("PATCH", "/inputs") == 8
    assert [len(c.body["inputs"]) for c, _ in recorder.calls] == [128] * 7 + [104]
    assert all(c.body["action"] == "merge" for c, _ in recorder.calls)
    assert len(connected.recorder.calls) == recorder_calls_before
    again = connected.fresh()
    assert all(wire["data"]["metadata"]["reviewed"] is True for wire in _all_inputs(again))


def _all_inputs(session: object) -> list[dict[str, object]]:
    wires: list[dict[str, object]] = []
    page = 1
    while True:
        answer = session._send("GET", "inputs", query={"page": page, "per_page": 1000})  # type: ignore[attr-defined]
        if not answer["inputs"]:
            return wires
        wires += answer["inputs"]
        page += 1


def test_mixed_actions_send_the_fewest_calls(connected: Connected) -> None:
    session = connected.session
    photos = new_inputs(300)
    for photo in photos:
        photo.concepts.append("cat")
        photo.concepts.append(ConceptAnnotation("dog", 0))
    session.add_all(photos)
    session.commit()
    connected.recorder.clear()

    for photo in photos[:100]:  # set a key: merge
        photo.metadata["checked"] = "yes"
    for photo in photos[100:200]:  # delete a key: remove
        del photo.metadata["owner"]
    for photo in photos[200:]:  # remove a concept: remove
        photo.concepts.pop(0)
    for photo in photos[:50]:  # the same photo both sets a key and drops a concept
        photo.concepts.pop(0)
    session.commit()
    # removes: photos 0-49 and 100-299 = 250 items -> 2 calls; merges: photos 0-99 -> 1 call
    calls = [request for request, _ in connected.recorder.calls]
    assert [(c.method, c.body["action"], len(c.body["inputs"])) for c in calls] == [
        ("PATCH", "remove", 128),
        ("PATCH", "remove", 122),
        ("PATCH", "merge", 100),
    ]
    reader = connected.fresh()
    for photo in photos[::37]:
        fresh = reader.get(Input, photo.id)
        assert fresh is not None and state(fresh) == state(photo)


def test_mixed_status_keeps_failed_items_pending(connected: Connected) -> None:
    session = connected.session
    photos = new_inputs(6)
    session.add_all(photos)
    session.commit()
    for photo in photos:
        photo.metadata["owner"] = "bob"

    other = connected.fresh()
    gone = [other.get(Input, photo.id) for photo in photos[1:3]]
    originals = [  # the server answers a hosted URL for bytes: read them before deleting
        Input(id=g.id, image=Image(base64=other.fetch_media(g)), metadata=dict(g.metadata))
        for g in gone
        if g
    ]
    for entity in gone:
        other.delete(entity)
    other.commit()

    connected.recorder.clear()
    with pytest.raises(FlushError) as caught:
        session.commit()
    error = caught.value
    assert sorted(o.entity.id for o in error.failed) == sorted(p.id for p in photos[1:3])
    assert {o.status.code for o in error.failed if o.status} == {30102}
    assert sorted(o.entity.id for o in error.succeeded) == sorted(
        p.id for p in photos[:1] + photos[3:]
    )
    assert sorted(e.id for e in session.dirty) == sorted(p.id for p in photos[1:3])

    # The inputs come back (same ids and content); the next flush sends only the failed ones.
    other.add_all(originals)
    other.commit()
    connected.recorder.clear()
    session.commit()
    assert [len(r.body["inputs"]) for r, _ in connected.recorder.calls] == [2]
    assert session.dirty == []
    reader = connected.fresh()
    for photo in photos:
        fresh = reader.get(Input, photo.id)
        assert fresh is not None and state(fresh) == state(photo)


def test_rollback_restores_snapshots_and_forgets_new(connected: Connected) -> None:
    session = connected.session
    [photo] = new_inputs(1)
    session.add(photo)
    session.commit()
    photo.metadata["owner"] = "eve"
    photo.concepts.append("cat")
    photo.geo = GeoPoint(1, 2)
    added = new_inputs(1, start=5)[0]
    session.add(added)
    session.delete(photo)
    session.rollback()
    assert photo.metadata == {"n": 0.0, "owner": "ana"}
    assert photo.concepts == [] and photo.geo is None
    assert added not in session and session.new == [] and session.deleted == []
    connected.recorder.clear()
    session.commit()
    assert connected.recorder.calls == []


def test_begin_rolls_back_on_error(connected: Connected) -> None:
    session = connected.session
    with pytest.raises(RuntimeError), session.begin():
        session.add_all(new_inputs(2))
        raise RuntimeError("stop")
    assert session.new == []
    assert connected.recorder.calls == []


def test_identity_map_is_weak_but_keeps_edited_objects(connected: Connected) -> None:
    session = connected.session
    photos = new_inputs(3)
    ids = [p.id for p in photos]
    session.add_all(photos)
    session.commit()
    photos[0].metadata["kept"] = 1
    del photos
    gc.collect()
    assert [e.id for e in session.dirty] == ids[:1]
    assert len(session._identity) == 1
    connected.recorder.clear()
    session.commit()
    assert connected.recorder.count("PATCH") == 1
    gc.collect()
    assert len(session._identity) == 0


def test_delete_and_refresh_and_expunge(connected: Connected) -> None:
    session = connected.session
    photos = new_inputs(3)
    session.add_all(photos)
    session.commit()
    photos[1].metadata["owner"] = "zed"
    session.refresh(photos[1])
    assert photos[1].metadata["owner"] == "ana" and session.dirty == []
    session.delete(photos[0])
    session.expunge(photos[2])
    photos[2].metadata["x"] = 1  # not tracked any more
    connected.recorder.clear()
    session.commit()
    assert [(r.method, r.body) for r, _ in connected.recorder.calls] == [
        ("DELETE", {"ids": [photos[0].id]})
    ]
    assert connected.fresh().get(Input, photos[0].id) is None
    assert photos[0] not in session


def test_delete_of_inputs_gone_on_the_server_still_applies(connected: Connected) -> None:
    session = connected.session
    photos = new_inputs(3)
    session.add_all(photos)
    session.commit()
    other = connected.fresh()
    victim = other.get(Input, photos[0].id)
    other.delete(victim)
    other.commit()
    for photo in photos:
        session.delete(photo)
    session.commit()
    reader = connected.fresh()
    assert all(reader.get(Input, photo.id) is None for photo in photos)


def test_bad_input_raises_before_sending(connected: Connected) -> None:
    session = connected.session
    with pytest.raises(ValidationError, match="contains '/'"):
        Input(id="a/b", image=Image(url="https://example.com/a.jpg"))
    with pytest.raises(ValidationError, match="metadata must be a dict"):
        Input(metadata=["not", "a", "dict"])  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match=r"GeoPoint\.latitude"):
        GeoPoint(0, 123)
    with pytest.raises(ValidationError, match=r"concept"):
        Input(concepts=[3])  # type: ignore[list-item]
    big = Input(image=Image(base64=tiny_png(1)), metadata={"blob": "x" * (10 * 1024 * 1024)})
    with pytest.raises(ValidationError, match=r"'blob'.*limit"):
        session.add(big)
    [photo] = new_inputs(1)
    session.add(photo)
    photo.metadata["when"] = object()
    with pytest.raises(ValidationError, match="when"):
        session.commit()
    assert connected.recorder.calls == []
    with pytest.raises(ValidationError, match="must be a number"):
        photo.concepts.append(ConceptAnnotation("x", "high"))  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        Input.from_media(b"this is not an image, just text", concepts=["cat"])
    assert connected.recorder.calls == []


def test_image_of_stored_input_cannot_change(connected: Connected) -> None:
    session = connected.session
    [photo] = new_inputs(1)
    session.add(photo)
    session.commit()
    photo.image = Image(url="https://example.com/other.jpg")
    connected.recorder.clear()
    with pytest.raises(ValidationError, match="cannot change"):
        session.flush()
    assert connected.recorder.calls == []


def test_objects_belong_to_one_session(connected: Connected) -> None:
    [photo] = new_inputs(1)
    connected.session.add(photo)
    with pytest.raises(SessionError, match="another session"):
        connected.fresh().add(photo)
    with pytest.raises(SessionError, match="no call that deletes a concept"):
        connected.session.delete(Concept("cat"))


def test_concepts_and_models(connected: Connected) -> None:
    session = connected.session
    session.add(Concept("cat", name="Cat"))
    model = Model(id="pets", name="pets", concepts=["cat"])
    session.add(model)
    session.commit()
    assert [r.describe() for r, _ in connected.recorder.calls] == [
        "POST /v2/concepts",
        "POST /v2/models",
    ]
    model.concepts.append(Concept("dog"))
    session.commit()
    model.concepts_mutually_exclusive = True
    session.commit()
    assert connected.recorder.calls[-1][0].body["action"] == "overwrite"
    fresh = connected.fresh().get(Model, "pets")
    assert fresh is not None
    assert sorted(c.id for c in fresh.concepts) == ["cat", "dog"]
    assert fresh.concepts_mutually_exclusive is True
    assert connected.fresh().get(Model, name="pets") == fresh
    session.delete(model)
    session.commit()
    assert connected.fresh().get(Model, "pets") is None


def test_wait_for_inputs(connected: Connected) -> None:
    session = connected.session
    photos = new_inputs(2)
    session.add_all(photos)
    session.commit()
    done = session.wait_for_inputs(photos, timeout=10)
    assert [p.id for p in done] == [p.id for p in photos]
    assert all(p.status is not None and p.status.code == 30000 for p in done)
    assert session.wait_for_inputs(timeout=10) == []


def test_input_counts(connected: Connected) -> None:
    session = connected.session
    assert session.input_counts() == InputCounts()
    session.add_all(new_inputs(3))
    session.add(Input(id="broken", image=Image(base64=b"\x89PNG\r\n\x1a\nnot really a png")))
    with pytest.raises(FlushError):
        session.commit()
    counts = session.input_counts()
    assert counts == InputCounts(processed=3)  # the broken one was refused, not stored
    assert counts.pending == 0


def test_wait_until_deleted(connected: Connected) -> None:
    session = connected.session
    photos = new_inputs(3)
    session.add_all(photos)
    session.add(Model(id="pets", concepts=["cat"]))
    session.commit()
    with pytest.raises(WaitTimeoutError, match="still there"):
        session.wait_until_deleted(Input, [photos[0], photos[1].id], timeout=0.2, interval=0.05)
    with pytest.raises(WaitTimeoutError, match="still has inputs"):
        session.wait_until_deleted(Input, timeout=0.2, interval=0.05)
    session.delete(photos[0])
    session.delete(photos[1])
    pets = session.get(Model, "pets")
    session.delete(pets)
    session.commit()
    session.wait_until_deleted(Input, [photos[0], photos[1].id], timeout=5)
    session.wait_until_deleted(Model, ["pets"], timeout=5)
    with pytest.raises(ValidationError, match="public models"):
        session.wait_until_deleted(Model)
    session.query(Input).delete()
    session.wait_until_deleted(Input, timeout=5)
    assert session.input_counts().processed == 0


def test_a_query_brings_clean_objects_up_to_date_and_keeps_edits(connected: Connected) -> None:
    session = connected.session
    kept, updated = new_inputs(2)
    with session.begin():
        session.add_all([kept, updated])
    kept.metadata["mine"] = "unsent"  # a pending edit: the object is held

    other = connected.fresh()
    for photo in other.query(Input).all():
        photo.metadata["theirs"] = True
    other.commit()

    found = {photo.id: photo for photo in session.query(Input).where(metadata={"owner": "ana"})}
    assert found[updated.id] is updated  # one object per id
    assert updated.metadata["theirs"] is True  # clean: took the server's newer state
    assert updated not in session.dirty
    # ``kept`` had an edit: autoflush sent it first, so both edits are there
    assert found[kept.id] is kept
    assert kept.metadata["mine"] == "unsent" and kept.metadata["theirs"] is True


def test_an_object_with_unsent_edits_keeps_them_when_queried(connected: Connected) -> None:
    session = connected.session
    (photo,) = new_inputs(1)
    with session.begin():
        session.add(photo)
    photo.metadata["owner"] = "bob"  # unsent

    with session.no_autoflush():
        (found,) = session.query(Input).where(id=photo.id).all()
    assert found is photo
    assert photo.metadata["owner"] == "bob"
    assert photo in session.dirty


# -- connect: bad URLs get typed errors ------------------------------------------------------


def test_connect_rejects_a_url_that_is_not_a_string() -> None:
    with pytest.raises(ValidationError, match="needs a URL string, got int 123"):
        clarimap.connect(123)  # type: ignore[arg-type]


def test_connect_local_with_no_path_is_the_in_memory_server() -> None:
    session = clarimap.connect("local://")
    session.add(Input(id="alone", image=Image(base64=tiny_png(1))))
    session.commit()
    assert [found.id for found in session.query(Input).all()] == ["alone"]


@pytest.mark.parametrize("where", ["directory", "not-a-database"])
def test_connect_local_to_a_path_that_takes_no_database_is_a_configuration_error(
    tmp_path: Path, where: str
) -> None:
    target = tmp_path
    if where == "not-a-database":
        target = tmp_path / "notes.txt"
        target.write_text("not sqlite\n" * 200)
    with pytest.raises(ConfigurationError, match=f"cannot open the database {target}"):
        clarimap.connect(f"local://{target}").query(Input).all()
