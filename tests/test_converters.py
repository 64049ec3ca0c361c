"""The converter against literal wire JSON, and real server answers structured without loss."""

from __future__ import annotations

import datetime

from clarimap import ConceptAnnotation, GeoLimit, GeoPoint, Image, Input, Model
from clarimap.converters import parse_timestamp, structure, unstructure
from tests.orm_support import make_app, session_on


def test_input_to_wire() -> None:
    photo = Input(
        id="i1",
        image=Image(base64=b"\x89PNG", crop=(0.1, 0, 1, 1)),
        concepts=["cat", ConceptAnnotation("dog", 0)],
        metadata={"n": 1, "ok": True, "list": [1, "a"]},
        geo=GeoPoint(-30, 40),
    )
    assert unstructure(photo) == {
        "id": "i1",
        "data": {
            "image": {"base64": "iVBORw==", "crop": [0.1, 0.0, 1.0, 1.0]},
            "concepts": [{"id": "cat", "value": 1.0}, {"id": "dog", "value": 0.0}],
            "metadata": {"n": 1.0, "ok": True, "list": [1.0, "a"]},
            "geo": {"geo_point": {"longitude": -30.0, "latitude": 40.0}},
        },
    }


def test_wire_to_input_reads_defaults_like_the_api() -> None:
    photo = structure(
        {
            "id": "i2",
            "data": {"image": {"url": "https://x/y.jpg"}, "concepts": [{"id": "cat"}]},
            "created_at": "2019-01-17T12:43:04.895006174Z",
            "status": {"code": "30000", "description": "Download complete"},
        },
        Input,
    )
    assert photo.concepts == [ConceptAnnotation("cat", 1.0)]  # a missing value reads as 1.0
    assert photo.created_at == datetime.datetime(
        2019, 1, 17, 12, 43, 4, 895006, tzinfo=datetime.timezone.utc
    )
    assert photo.status is not None and photo.status.code == 30000


def test_timestamps_with_offsets() -> None:
    moment = parse_timestamp("2020-02-03T04:05:06+02:00")
    assert moment.utcoffset() == datetime.timedelta(hours=2)
    assert unstructure(Input(id="x", created_at=moment))["created_at"] == (
        "2020-02-03T02:05:06.000000Z"
    )


def test_model_and_geo_limit_to_wire() -> None:
    model = Model(
        id="m", name="pets", concepts=["cat"], closed_environment=True, hyper_params={"lr": 1}
    )
    assert unstructure(model) == {
        "id": "m",
        "name": "pets",
        "output_info": {
            "data": {"concepts": [{"id": "cat"}]},
            "output_config": {"closed_environment": True, "hyper_params": {"lr": 1.0}},
        },
    }
    assert unstructure(GeoLimit(3, "miles")) == {"type": "withinMiles", "value": 3.0}


def test_server_answers_structure_without_loss() -> None:
    app = make_app()
    try:
        with session_on(app, "inprocess") as connected:
            session = connected.session
            session._send(
                "POST",
                "inputs",
                {
                    "inputs": [
                        {
                            "id": "real",
                            "data": {
                                "image": {
                                    "base64": "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
                                },
                                "concepts": [{"id": "cat", "value": 1}, {"id": "dog", "value": 0}],
                                "metadata": {"a": {"b": [1, 2]}, "t": True},
                                "geo": {"geo_point": {"longitude": 1.5, "latitude": -2}},
                                "regions": [
                                    {
                                        "id": "r1",
                                        "region_info": {
                                            "bounding_box": {
                                                "top_row": 0.1,
                                                "left_col": 0.2,
                                                "bottom_row": 0.3,
                                                "right_col": 0.4,
                                            }
                                        },
                                        "data": {"concepts": [{"id": "cat", "value": 1}]},
                                    }
                                ],
                            },
                        }
                    ]
                },
            )
            for wire in [session._send("GET", "inputs/real")["input"]] + session._send(
                "GET", "inputs"
            )["inputs"]:
                entity = structure(wire, Input)
                again = unstructure(entity)
                data, data_again = wire["data"], again["data"]
                for key in ("metadata", "geo", "regions"):
                    assert data_again[key] == data[key], key
                modelled = ("url", "base64", "crop", "allow_duplicate_url")  # not image_info
                assert data_again["image"] == {
                    k: v for k, v in data["image"].items() if k in modelled
                }
                assert [(c["id"], c["value"]) for c in data_again["concepts"]] == [
                    (c["id"], c["value"]) for c in data["concepts"]
                ]
                assert parse_timestamp(wire["created_at"]) == entity.created_at
                assert again["status"] == wire["status"]
            for wire in session._send("GET", "models")["models"][:20]:
                model = structure(wire, Model)
                assert unstructure(model)["id"] == wire["id"]
                assert (
                    model.model_version is None
                    or model.model_version.id == wire["model_version"]["id"]
                )
    finally:
        app.close()
