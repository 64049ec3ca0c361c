"""Entities: validation, change tracking of attribute sets and in-place edits."""

from __future__ import annotations

import datetime

import pytest

from clarimap import (
    BoundingBox,
    ConceptAnnotation,
    GeoLimit,
    GeoPoint,
    Image,
    Input,
    InvalidMediaError,
    Model,
    Region,
    ValidationError,
)
from tests.conftest import SAMPLES


class ChangeLog:
    """Stands in for a session: records which entities reported a change."""

    def __init__(self) -> None:
        self.changed: list[str] = []

    def _entity_changed(self, entity: Input) -> None:
        self.changed.append(entity.id)


def tracked(entity: Input) -> ChangeLog:
    log = ChangeLog()
    entity._session = log
    return log


def test_every_kind_of_edit_is_reported() -> None:
    photo = Input(id="p", metadata={"a": {"b": [1, {"c": 2}]}}, concepts=["cat"])
    log = tracked(photo)
    photo.metadata["a"]["b"][1]["c"] = 3
    photo.metadata["a"]["b"].append(4)
    photo.metadata.setdefault("new", {})["x"] = 1
    photo.metadata.update(z=1)
    photo.metadata.pop("z")
    photo.concepts.append("dog")
    photo.concepts[0] = ConceptAnnotation("cat", 0)
    del photo.concepts[1]
    photo.geo = GeoPoint(1, 2)
    photo.regions.append(Region(bounding_box=BoundingBox(0, 0, 0.5, 0.5)))
    assert len(log.changed) == 11
    assert photo.concepts == [ConceptAnnotation("cat", 0.0)]


def test_strings_become_positive_annotations_and_negatives_are_values() -> None:
    photo = Input(concepts=["cat", ConceptAnnotation("dog", 0)])
    assert photo.concept_ids == ["cat"] and photo.not_concept_ids == ["dog"]
    assert all(isinstance(c, ConceptAnnotation) for c in photo.concepts)


def test_from_media_reads_the_file_and_sets_annotations() -> None:
    photo = Input.from_media(
        SAMPLES / "cat.jpg",
        concepts=["cat"],
        not_concepts=["dog"],
        metadata={"k": 1},
        geo=(1.5, 2.5),
        id="cat-1",
        crop=(0, 0, 1, 1),
        allow_duplicate_url=True,
    )
    assert photo.id == "cat-1" and photo.image is not None
    assert photo.image.base64 == (SAMPLES / "cat.jpg").read_bytes()
    assert photo.image.crop == (0.0, 0.0, 1.0, 1.0) and photo.image.allow_duplicate_url
    assert photo.geo == GeoPoint(1.5, 2.5)
    assert [(c.id, c.value) for c in photo.concepts] == [("cat", 1.0), ("dog", 0.0)]
    url = Input.from_media("https://example.com/x.jpg")
    assert url.image is not None and url.image.url == "https://example.com/x.jpg"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Input(id=""), "must not be empty"),
        (lambda: Input(id="x" * 300), "limit is 255"),
        (lambda: Input(id=5), "must be a string"),
        (lambda: Image(), "needs a url or base64"),
        (lambda: Image(url="u", crop=(0, 0, 2, 1)), "fractions"),
        (lambda: BoundingBox(0, 0, 1.5, 1), "bottom_row"),
        (lambda: GeoLimit(5, "parsecs"), "GeoLimit.unit"),
        (lambda: GeoPoint(float("nan"), 0), "finite"),
        (lambda: Model(max_concepts="3"), "max_concepts"),
        (lambda: Input(created_at=datetime.datetime(2020, 1, 1)), "aware datetime"),
        (lambda: Region(feedback="great"), "feedback"),
    ],
)
def test_bad_values_raise_validation_errors(make: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        make()  # type: ignore[operator]


def test_setting_a_bad_value_is_refused_and_not_reported() -> None:
    photo = Input()
    log = tracked(photo)
    with pytest.raises(ValidationError, match=r"Input\.geo"):
        photo.geo = (1, 2)  # type: ignore[assignment]
    assert log.changed == []


def test_a_text_file_is_not_an_image(tmp_path: object) -> None:
    from pathlib import Path

    text = Path(str(tmp_path)) / "notes.jpg"
    text.write_text("just some notes")
    with pytest.raises(InvalidMediaError, match="not an image"):
        Input.from_media(text)


def test_public_names_are_sorted_and_complete() -> None:
    import clarimap
    from clarimap import entities, errors

    assert clarimap.__all__ == sorted(clarimap.__all__)
    public = {name for module in (entities, errors) for name in module.__all__} - {"new_id"}
    assert public <= set(clarimap.__all__)
    assert all(hasattr(clarimap, name) for name in clarimap.__all__)


def test_a_model_repr_shows_a_few_of_many_concepts() -> None:
    many = Model(id="big", concepts=[f"c{number}" for number in range(1000)])
    shown = repr(many)
    assert "Concept(id='c0'" in shown and "Concept(id='c4'" in shown
    assert "Concept(id='c5'" not in shown and "... 995 more]" in shown
    assert len(shown) < 1000
    few = Model(id="small", concepts=["cat", "dog"])
    assert repr(few.concepts) in repr(few)  # short lists are shown whole
