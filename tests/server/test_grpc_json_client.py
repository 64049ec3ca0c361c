"""The current official JSON client (clarifai-grpc 12.6.0) against ``clarimap serve``.

Each test starts ``clarimap serve`` (127.0.0.1, free port, one API key) and runs a script in the
clarifai-grpc virtualenv of :mod:`tests.grpcjson`: ``ClarifaiChannel.get_json_channel`` and
``V2Stub``, calls made with ``user_app_id`` (user ``local``, app ``default``, or the app only,
which the client sends as user ``me``) and ``metadata=(("authorization", "Key ..."),)``. The
client never raises on an HTTP status, so scripts report ``status.code`` by its enum name and the
values that came back, and the tests check those values.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from clarimap.server import status
from tests.grpcjson import GrpcJsonUnavailable, grpc_json_python, run_grpc_json_script
from tests.serve_process import ServeProcess
from tests.server.mediaserver import SAMPLES, MediaServer, media_server

API_KEY = "grpc-json-key"
COLOR_MODEL_ID = "eeed0b6733a644cea07cf4c60f87ebb7"
GENERAL_MODEL_ID = "aaa03c23b3724a16a56b629203edc62c"


@pytest.fixture(scope="module")
def grpc_client() -> None:
    """Skip the module, with the reason, when the clarifai-grpc virtualenv cannot be built."""
    try:
        grpc_json_python()
    except GrpcJsonUnavailable as error:
        pytest.skip(str(error))


@pytest.fixture
def server(tmp_path: Path, grpc_client: None) -> Iterator[ServeProcess]:
    with ServeProcess(data=tmp_path / "data", api_keys=[API_KEY]) as process:
        yield process


@pytest.fixture
def media() -> Iterator[MediaServer]:
    with media_server() as served:
        yield served


def run(server: ServeProcess, script: str, **env: str) -> Any:
    """Run ``script`` against ``server``; its JSON result."""
    return run_grpc_json_script(
        script,
        env={
            "CLARIMAP_URL": server.url,
            "CLARIMAP_KEY": API_KEY,
            "CAT": str(SAMPLES / "cat.jpg"),
            **env,
        },
    )


# Helpers every script below uses (after tests.grpcjson.PRELUDE).
HELPERS = """
cat_bytes = open(os.environ["CAT"], "rb").read()


def code(response):
    return response.status.code


def image_input(input_id=None, *, url=None, data=None, concepts=(), metadata=None, geo=None):
    image = resources_pb2.Image(url=url) if url else resources_pb2.Image(base64=data)
    fields = {"image": image}
    if concepts:
        fields["concepts"] = [resources_pb2.Concept(id=c, value=v) for c, v in concepts]
    if metadata is not None:
        fields["metadata"] = struct(metadata)
    if geo is not None:
        latitude, longitude = geo
        fields["geo"] = resources_pb2.Geo(
            geo_point=resources_pb2.GeoPoint(latitude=latitude, longitude=longitude))
    return resources_pb2.Input(id=input_id or "", data=resources_pb2.Data(**fields))


def wait_processed(ids):
    for _ in range(600):
        codes = [
            stub.GetInput(
                service_pb2.GetInputRequest(user_app_id=user_app_id, input_id=i), metadata=metadata
            ).input.status.code
            for i in ids
        ]
        if all(c != status_code_pb2.INPUT_DOWNLOAD_PENDING for c in codes)\\
                and all(c != status_code_pb2.INPUT_DOWNLOAD_IN_PROGRESS for c in codes):
            return codes
        import time
        time.sleep(0.05)
    raise SystemExit("inputs never finished processing")


def concepts_of(message):
    return {c.id: round(c.value, 4) for c in message.data.concepts}

"""


INPUTS_SCRIPT = (
    HELPERS
    + """
out = {}
added = stub.PostInputs(
    service_pb2.PostInputsRequest(
        user_app_id=user_app_id,
        inputs=[
            image_input("from-url", url=os.environ["CAT_URL"], concepts=[("cat", 1.0), ("dog", 0.0)],
                        metadata={"owner": "ana", "tags": {"kind": "pet"}}),
            image_input("from-bytes", data=cat_bytes, concepts=[("cat", 1.0)], metadata={"n": 3}),
        ],
    ),
    metadata=metadata,
)
out["post"] = {"code": code(added), "ids": [i.id for i in added.inputs],
               "item_codes": [i.status.code for i in added.inputs]}
out["processed"] = wait_processed(["from-url", "from-bytes"])

pages = []
for page in (1, 2, 3):
    listed = stub.ListInputs(
        service_pb2.ListInputsRequest(user_app_id=user_app_id, page=page, per_page=1),
        metadata=metadata,
    )
    pages.append({"code": code(listed), "ids": [i.id for i in listed.inputs]})
out["pages"] = pages
listed_me = stub.ListInputs(service_pb2.ListInputsRequest(user_app_id=app_only), metadata=metadata)
out["list_me"] = {"code": code(listed_me), "ids": [i.id for i in listed_me.inputs]}
by_status = {}
for name in ("INPUT_DOWNLOAD_SUCCESS", "INPUT_DOWNLOAD_FAILED"):
    listed = stub.ListInputs(
        service_pb2.ListInputsRequest(
            user_app_id=user_app_id,
            status=status_pb2.Status(code=status_code_pb2.StatusCode.Value(name)),
        ),
        metadata=metadata,
    )
    by_status[name] = {"code": code(listed), "ids": [i.id for i in listed.inputs]}
out["by_status"] = by_status
by_ids = stub.ListInputs(
    service_pb2.ListInputsRequest(user_app_id=user_app_id, ids=["from-bytes", "from-url", "nope"]),
    metadata=metadata,
)
out["by_ids"] = {"code": code(by_ids), "ids": [i.id for i in by_ids.inputs]}

got = stub.GetInput(service_pb2.GetInputRequest(user_app_id=user_app_id, input_id="from-url"),
                    metadata=metadata)
out["get"] = {
    "code": code(got),
    "id": got.input.id,
    "url": got.input.data.image.url,
    "concepts": concepts_of(got.input),
    "metadata": json_format.MessageToDict(got.input.data.metadata),
    "status": got.input.status.code,
    "created_at_year": got.input.created_at.ToDatetime().year,
}
got_me = stub.GetInput(service_pb2.GetInputRequest(user_app_id=app_only, input_id="from-bytes"),
                       metadata=metadata)
out["get_me"] = {"code": code(got_me), "metadata": json_format.MessageToDict(got_me.input.data.metadata),
                 "has_bytes": bool(got_me.input.data.image.base64),
                 "hosted": got_me.input.data.image.url.split("/v2/", 1)[-1],
                 "hosted_parts": "/".join([got_me.input.data.image.hosted.prefix,
                                           *got_me.input.data.image.hosted.sizes,
                                           got_me.input.data.image.hosted.suffix])
                                 == got_me.input.data.image.url}

merged = stub.PatchInputs(
    service_pb2.PatchInputsRequest(
        user_app_id=user_app_id,
        action="merge",
        inputs=[resources_pb2.Input(id="from-url", data=resources_pb2.Data(
            metadata=struct({"tags": {"colour": "grey"}, "reviewed": True})))],
    ),
    metadata=metadata,
)
removed = stub.PatchInputs(
    service_pb2.PatchInputsRequest(
        user_app_id=app_only,
        action="remove",
        inputs=[resources_pb2.Input(id="from-url", data=resources_pb2.Data(
            concepts=[resources_pb2.Concept(id="dog")]))],
    ),
    metadata=metadata,
)
after = stub.GetInput(service_pb2.GetInputRequest(user_app_id=user_app_id, input_id="from-url"),
                      metadata=metadata).input
out["patch"] = {
    "merge_code": code(merged),
    "remove_code": code(removed),
    "metadata": json_format.MessageToDict(after.data.metadata),
    "concepts": concepts_of(after),
}

deleted = stub.DeleteInputs(
    service_pb2.DeleteInputsRequest(user_app_id=user_app_id, ids=["from-url"]), metadata=metadata
)
gone = stub.GetInput(service_pb2.GetInputRequest(user_app_id=user_app_id, input_id="from-url"),
                     metadata=metadata)
deleted_one = stub.DeleteInput(
    service_pb2.DeleteInputRequest(user_app_id=app_only, input_id="from-bytes"), metadata=metadata
)
left = stub.ListInputs(service_pb2.ListInputsRequest(user_app_id=user_app_id), metadata=metadata)
out["delete"] = {"code": code(deleted), "gone": code(gone), "delete_one": code(deleted_one),
                 "left": [i.id for i in left.inputs]}
print(json.dumps(out))
"""
)


def test_inputs_add_list_get_patch_delete(server: ServeProcess, media: MediaServer) -> None:
    out = run(server, INPUTS_SCRIPT, CAT_URL=media.url("/cat.jpg"))
    assert out["post"]["code"] == status.SUCCESS
    assert out["post"]["ids"] == ["from-url", "from-bytes"]
    assert set(out["post"]["item_codes"]) <= {
        status.INPUT_DOWNLOAD_PENDING,
        status.INPUT_DOWNLOAD_SUCCESS,
    }
    assert out["processed"] == [status.INPUT_DOWNLOAD_SUCCESS] * 2
    assert "/cat.jpg" in media.requests  # the server downloaded the URL for real

    assert out["pages"] == [
        {"code": status.SUCCESS, "ids": ["from-url"]},
        {"code": status.SUCCESS, "ids": ["from-bytes"]},
        {"code": status.SUCCESS, "ids": []},
    ]
    assert out["list_me"] == {"code": status.SUCCESS, "ids": ["from-url", "from-bytes"]}
    assert out["by_status"] == {
        "INPUT_DOWNLOAD_SUCCESS": {"code": status.SUCCESS, "ids": ["from-url", "from-bytes"]},
        "INPUT_DOWNLOAD_FAILED": {"code": status.SUCCESS, "ids": []},
    }

    assert out["by_ids"] == {"code": status.SUCCESS, "ids": ["from-url", "from-bytes"]}

    got = out["get"]
    assert got["created_at_year"] >= 2024
    del got["created_at_year"]
    assert got == {
        "code": status.SUCCESS,
        "id": "from-url",
        "url": media.url("/cat.jpg"),
        "concepts": {"cat": 1.0, "dog": 0.0},
        "metadata": {"owner": "ana", "tags": {"kind": "pet"}},
        "status": status.INPUT_DOWNLOAD_SUCCESS,
    }
    hosted = out["get_me"].pop("hosted")
    assert out[
        "get_me"
    ] == {  # bytes come back as a hosted URL (prefix/orig/suffix), as on Clarifai
        "code": status.SUCCESS,
        "metadata": {"n": 3.0},
        "has_bytes": False,
        "hosted_parts": True,
    }
    assert hosted.startswith("hosted/orig/")

    assert out["patch"] == {
        "merge_code": status.SUCCESS,
        "remove_code": status.SUCCESS,
        "metadata": {"owner": "ana", "tags": {"kind": "pet", "colour": "grey"}, "reviewed": True},
        "concepts": {"cat": 1.0},
    }
    assert out["delete"] == {
        "code": status.SUCCESS,
        "gone": status.INPUT_DOES_NOT_EXIST,
        "delete_one": status.SUCCESS,
        "left": [],
    }


CONCEPTS_SCRIPT = (
    HELPERS
    + """
out = {}
made = stub.PostConcepts(
    service_pb2.PostConceptsRequest(
        user_app_id=user_app_id,
        concepts=[resources_pb2.Concept(id="bird", name="Bird"),
                  resources_pb2.Concept(id="bison", name="Bison")],
    ),
    metadata=metadata,
)
made_me = stub.PostConcepts(
    service_pb2.PostConceptsRequest(user_app_id=app_only, concepts=[resources_pb2.Concept(id="cow")]),
    metadata=metadata,
)
again = stub.PostConcepts(
    service_pb2.PostConceptsRequest(user_app_id=user_app_id, concepts=[resources_pb2.Concept(id="cow")]),
    metadata=metadata,
)
out["post"] = {"code": code(made), "concepts": [[c.id, c.name, c.app_id] for c in made.concepts],
               "me_code": code(made_me), "me_ids": [c.id for c in made_me.concepts],
               "duplicate_code": code(again)}
pages = []
for page in (1, 2, 3):
    listed = stub.ListConcepts(
        service_pb2.ListConceptsRequest(user_app_id=user_app_id, page=page, per_page=2),
        metadata=metadata,
    )
    pages.append({"code": code(listed), "ids": [c.id for c in listed.concepts]})
out["pages"] = pages
got = stub.GetConcept(service_pb2.GetConceptRequest(user_app_id=app_only, concept_id="bird"),
                      metadata=metadata)
out["get"] = {"code": code(got), "id": got.concept.id, "name": got.concept.name,
              "created_year": got.concept.created_at.ToDatetime().year}
found = stub.PostConceptsSearches(
    service_pb2.PostConceptsSearchesRequest(
        user_app_id=user_app_id, concept_query=resources_pb2.ConceptQuery(name="bi*")
    ),
    metadata=metadata,
)
out["search"] = {"code": code(found), "ids": sorted(c.id for c in found.concepts)}
renamed = stub.PatchConcepts(
    service_pb2.PatchConceptsRequest(
        user_app_id=user_app_id, action="overwrite",
        concepts=[resources_pb2.Concept(id="cow", name="Cattle")],
    ),
    metadata=metadata,
)
out["patch"] = {"code": code(renamed), "names": [c.name for c in renamed.concepts]}
print(json.dumps(out))
"""
)


def test_concepts_add_list_get_search_patch(server: ServeProcess) -> None:
    out = run(server, CONCEPTS_SCRIPT)
    assert out["post"] == {
        "code": status.SUCCESS,
        "concepts": [["bird", "Bird", "default"], ["bison", "Bison", "default"]],
        "me_code": status.SUCCESS,
        "me_ids": ["cow"],
        "duplicate_code": status.CONCEPTS_INVALID_REQUEST,
    }
    listed = [page["ids"] for page in out["pages"]]
    assert all(page["code"] == status.SUCCESS for page in out["pages"])
    assert [len(ids) for ids in listed] == [2, 1, 0]
    assert sorted(listed[0] + listed[1]) == ["bird", "bison", "cow"]
    got = out["get"]
    assert got["created_year"] >= 2024
    assert (got["code"], got["id"], got["name"]) == (status.SUCCESS, "bird", "Bird")
    assert out["search"] == {"code": status.SUCCESS, "ids": ["bird", "bison"]}
    assert out["patch"] == {"code": status.SUCCESS, "names": ["Cattle"]}


MODELS_SCRIPT = (
    HELPERS
    + """
out = {}
stub.PostConcepts(
    service_pb2.PostConceptsRequest(
        user_app_id=user_app_id,
        concepts=[resources_pb2.Concept(id="cat"), resources_pb2.Concept(id="dog")],
    ),
    metadata=metadata,
)
made = stub.PostModels(
    service_pb2.PostModelsRequest(
        user_app_id=user_app_id,
        models=[resources_pb2.Model(
            id="pets", name="Pets", model_type_id="embedding-classifier",
            output_info=resources_pb2.OutputInfo(
                data=resources_pb2.Data(concepts=[resources_pb2.Concept(id="cat")]),
                output_config=resources_pb2.OutputConfig(concepts_mutually_exclusive=True),
            ),
        )],
    ),
    metadata=metadata,
)
out["post"] = {"code": code(made), "id": made.model.id, "name": made.model.name,
               "model_type_id": made.model.model_type_id,
               "version_code": made.model.model_version.status.code}


def describe(model):
    return {
        "id": model.id,
        "name": model.name,
        "model_type_id": model.model_type_id,
        "app_id": model.app_id,
        "concepts": sorted(c.id for c in model.output_info.data.concepts),
        "mutually_exclusive": model.output_info.output_config.concepts_mutually_exclusive,
        "created_year": model.created_at.ToDatetime().year,
    }


got = stub.GetModel(service_pb2.GetModelRequest(user_app_id=user_app_id, model_id="pets"),
                    metadata=metadata)
out["get"] = {"code": code(got), **describe(got.model)}
listed = stub.ListModels(service_pb2.ListModelsRequest(user_app_id=user_app_id, per_page=100),
                         metadata=metadata)
out["list"] = {"code": code(listed), "ids": [m.id for m in listed.models]}
listed_me = stub.ListModels(service_pb2.ListModelsRequest(user_app_id=app_only, per_page=100),
                            metadata=metadata)
out["list_me"] = {"code": code(listed_me), "ids": [m.id for m in listed_me.models]}
by_type = stub.ListModels(
    service_pb2.ListModelsRequest(user_app_id=user_app_id, model_type_id="embedding-classifier"),
    metadata=metadata,
)
out["by_type"] = {"code": code(by_type), "ids": [m.id for m in by_type.models]}
patched = stub.PatchModels(
    service_pb2.PatchModelsRequest(
        user_app_id=user_app_id,
        action="merge",
        models=[resources_pb2.Model(
            id="pets", name="House pets",
            output_info=resources_pb2.OutputInfo(
                data=resources_pb2.Data(concepts=[resources_pb2.Concept(id="dog")])),
        )],
    ),
    metadata=metadata,
)
after = stub.GetModel(service_pb2.GetModelRequest(user_app_id=app_only, model_id="pets"),
                      metadata=metadata)
out["patch"] = {"code": code(patched), "after": describe(after.model)}
deleted = stub.DeleteModel(service_pb2.DeleteModelRequest(user_app_id=user_app_id, model_id="pets"),
                           metadata=metadata)
gone = stub.GetModel(service_pb2.GetModelRequest(user_app_id=user_app_id, model_id="pets"),
                     metadata=metadata)
public = stub.GetModel(
    service_pb2.GetModelRequest(
        user_app_id=resources_pb2.UserAppIDSet(user_id="clarifai", app_id="main"),
        model_id=os.environ["COLOR_MODEL_ID"],
    ),
    metadata=metadata,
)
out["delete"] = {"code": code(deleted), "gone": code(gone), "public": code(public),
                 "public_name": public.model.name}
print(json.dumps(out))
"""
)


def test_models_add_get_list_patch_delete(server: ServeProcess) -> None:
    out = run(server, MODELS_SCRIPT, COLOR_MODEL_ID=COLOR_MODEL_ID)
    assert out["post"] == {
        "code": status.SUCCESS,
        "id": "pets",
        "name": "Pets",
        "model_type_id": "embedding-classifier",
        "version_code": status.MODEL_UNTRAINED,
    }
    got = out["get"]
    assert got["created_year"] >= 2024
    del got["created_year"]
    assert got == {
        "code": status.SUCCESS,
        "id": "pets",
        "name": "Pets",
        "model_type_id": "embedding-classifier",
        "app_id": "default",
        "concepts": ["cat"],
        "mutually_exclusive": True,
    }
    assert out["list"]["code"] == status.SUCCESS
    assert "pets" in out["list"]["ids"] and COLOR_MODEL_ID in out["list"]["ids"]
    assert out["list_me"] == out["list"]
    assert out["by_type"] == {"code": status.SUCCESS, "ids": ["pets"]}
    after = out["patch"]["after"]
    assert out["patch"]["code"] == status.SUCCESS
    assert (after["name"], after["concepts"]) == ("House pets", ["cat", "dog"])
    assert after["model_type_id"] == "embedding-classifier"
    assert out["delete"] == {
        "code": status.SUCCESS,
        "gone": status.MODEL_DOES_NOT_EXIST,
        "public": status.SUCCESS,
        "public_name": "color",
    }


SEARCH_SCRIPT = (
    HELPERS
    + """
samples = os.environ["SAMPLES"]


def sample_bytes(name):
    return open(os.path.join(samples, name), "rb").read()


added = stub.PostInputs(
    service_pb2.PostInputsRequest(
        user_app_id=user_app_id,
        inputs=[
            image_input("cat", url=os.environ["CAT_URL"], concepts=[("cat", 1.0)],
                        metadata={"owner": "ana", "room": {"floor": 1}}),
            image_input("coffee", data=sample_bytes("coffee.jpg"), concepts=[("cat", 0.0), ("drink", 1.0)],
                        metadata={"owner": "ana"}),
            image_input("rocket", data=sample_bytes("rocket.jpg"), metadata={"owner": "bo"},
                        geo=(28.57, -80.65)),
        ],
    ),
    metadata=metadata,
)
assert added.status.code == status_code_pb2.SUCCESS, added.status
processed = wait_processed(["cat", "coffee", "rocket"])


def search(*, filters=(), ranks=(), page=0, per_page=0, app=user_app_id):
    response = stub.PostInputsSearches(
        service_pb2.PostInputsSearchesRequest(
            user_app_id=app,
            searches=[resources_pb2.Search(query=resources_pb2.Query(filters=filters, ranks=ranks))],
            pagination=service_pb2.Pagination(page=page, per_page=per_page),
        ),
        metadata=metadata,
    )
    return {"code": code(response), "ids": [hit.input.id for hit in response.hits],
            "scores": [hit.score for hit in response.hits]}


def concept_filter(concept_id, value):
    return resources_pb2.Filter(annotation=resources_pb2.Annotation(data=resources_pb2.Data(
        concepts=[resources_pb2.Concept(id=concept_id, value=value)])))


def metadata_filter(value):
    return resources_pb2.Filter(annotation=resources_pb2.Annotation(data=resources_pb2.Data(
        metadata=struct(value))))


def geo_filter(latitude, longitude, kilometres):
    return resources_pb2.Filter(annotation=resources_pb2.Annotation(data=resources_pb2.Data(
        geo=resources_pb2.Geo(
            geo_point=resources_pb2.GeoPoint(latitude=latitude, longitude=longitude),
            geo_limit=resources_pb2.GeoLimit(type="withinKilometers", value=kilometres),
        ))))


def image_rank(**image):
    return resources_pb2.Rank(annotation=resources_pb2.Annotation(data=resources_pb2.Data(
        image=resources_pb2.Image(**image))))


out = {
    "processed": processed,
    "cat": search(filters=[concept_filter("cat", 1.0)]),
    "not_cat": search(filters=[concept_filter("cat", 0.0)]),
    "ana": search(filters=[metadata_filter({"owner": "ana"})], app=app_only),
    "deep": search(filters=[metadata_filter({"room": {"floor": 1}})]),
    "ana_drink": search(filters=[metadata_filter({"owner": "ana"}), concept_filter("drink", 1.0)]),
    "near_cape": search(filters=[geo_filter(28.6, -80.6, 20)]),
    "far_from_cape": search(filters=[geo_filter(40.7, -74.0, 20)]),
    "like_cat_url": search(ranks=[image_rank(url=os.environ["CAT_URL"])]),
    "like_coffee_bytes": search(ranks=[image_rank(base64=sample_bytes("coffee.jpg"))]),
    "like_rocket_page_1": search(ranks=[image_rank(base64=sample_bytes("rocket.jpg"))], page=1, per_page=1),
    "like_rocket_page_2": search(ranks=[image_rank(base64=sample_bytes("rocket.jpg"))], page=2, per_page=1),
    "ana_like_coffee": search(filters=[metadata_filter({"owner": "ana"})],
                              ranks=[image_rank(base64=sample_bytes("coffee.jpg"))]),
}
print(json.dumps(out))
"""
)


def test_inputs_searches_with_filters_and_ranks(server: ServeProcess, media: MediaServer) -> None:
    out = run(server, SEARCH_SCRIPT, CAT_URL=media.url("/cat.jpg"), SAMPLES=str(SAMPLES))
    assert out["processed"] == [status.INPUT_DOWNLOAD_SUCCESS] * 3
    ok = status.SUCCESS
    assert (out["cat"]["code"], out["cat"]["ids"]) == (ok, ["cat"])
    assert (out["not_cat"]["code"], out["not_cat"]["ids"]) == (ok, ["coffee"])
    assert (out["ana"]["code"], sorted(out["ana"]["ids"])) == (ok, ["cat", "coffee"])
    assert (out["deep"]["code"], out["deep"]["ids"]) == (ok, ["cat"])
    assert (out["ana_drink"]["code"], out["ana_drink"]["ids"]) == (ok, ["coffee"])
    assert (out["near_cape"]["code"], out["near_cape"]["ids"]) == (ok, ["rocket"])
    assert (out["far_from_cape"]["code"], out["far_from_cape"]["ids"]) == (ok, [])

    for name, best in (("like_cat_url", "cat"), ("like_coffee_bytes", "coffee")):
        result = out[name]
        assert result["code"] == ok
        assert sorted(result["ids"]) == ["cat", "coffee", "rocket"]
        assert result["ids"][0] == best  # the same photo is the most similar
        assert result["scores"] == sorted(result["scores"], reverse=True)
        assert result["scores"][0] > result["scores"][-1]
    assert out["like_rocket_page_1"]["ids"] == ["rocket"]
    assert len(out["like_rocket_page_2"]["ids"]) == 1
    assert out["like_rocket_page_2"]["ids"] != ["rocket"]
    assert out["ana_like_coffee"]["ids"] == ["coffee", "cat"]


PREDICT_SCRIPT = (
    HELPERS
    + """
public = resources_pb2.UserAppIDSet(user_id="clarifai", app_id="main")
out = {}


def predict(model_id, image, app=public, **extra):
    response = stub.PostModelOutputs(
        service_pb2.PostModelOutputsRequest(
            user_app_id=app, model_id=model_id,
            inputs=[resources_pb2.Input(data=resources_pb2.Data(image=image))], **extra,
        ),
        metadata=metadata,
    )
    return response


colors = predict(os.environ["COLOR_MODEL_ID"], resources_pb2.Image(base64=cat_bytes))
out["color"] = {
    "code": code(colors),
    "output_code": colors.outputs[0].status.code if colors.outputs else None,
    "model_id": colors.outputs[0].model.id if colors.outputs else None,
    "colors": [
        {"raw_hex": c.raw_hex, "w3c": {"hex": c.w3c.hex, "name": c.w3c.name}, "value": c.value}
        for c in colors.outputs[0].data.colors
    ] if colors.outputs else [],
}
by_url = predict(os.environ["COLOR_MODEL_ID"], resources_pb2.Image(url=os.environ["CAT_URL"]))
out["color_by_url"] = [c.raw_hex for c in by_url.outputs[0].data.colors] if by_url.outputs else None
if os.environ.get("GENERAL") == "1":
    general = predict(
        os.environ["GENERAL_MODEL_ID"], resources_pb2.Image(base64=cat_bytes),
        # where the current API's docs put it: model.model_version.output_info.output_config
        model=resources_pb2.Model(model_version=resources_pb2.ModelVersion(
            output_info=resources_pb2.OutputInfo(
                output_config=resources_pb2.OutputConfig(max_concepts=5, min_value=0.01)))),
    )
    out["general"] = {
        "code": code(general),
        "concepts": [[c.name, c.value] for c in general.outputs[0].data.concepts]
        if general.outputs else [],
    }
missing = predict("no-such-model", resources_pb2.Image(base64=cat_bytes), app=user_app_id)
out["missing"] = code(missing)
print(json.dumps(out))
"""
)

CAT_CLASSES = {"tabby", "tiger cat", "Egyptian cat", "Persian cat", "Siamese cat", "lynx"}


def general_model_installed() -> bool:
    return importlib.util.find_spec("clarimap_models") is not None


def test_predict_with_the_colour_model_and_the_general_model(
    server: ServeProcess, media: MediaServer
) -> None:
    from PIL import Image

    from clarimap.server.color import dominant_colors

    out = run(
        server,
        PREDICT_SCRIPT,
        CAT_URL=media.url("/cat.jpg"),
        COLOR_MODEL_ID=COLOR_MODEL_ID,
        GENERAL_MODEL_ID=GENERAL_MODEL_ID,
        GENERAL="1" if general_model_installed() else "0",
    )
    with Image.open(SAMPLES / "cat.jpg") as cat:
        expected = dominant_colors(cat)
    color = out["color"]
    assert (color["code"], color["output_code"], color["model_id"]) == (
        status.SUCCESS,
        status.SUCCESS,
        COLOR_MODEL_ID,
    )
    assert [c["raw_hex"] for c in color["colors"]] == [c["raw_hex"] for c in expected]
    assert [c["w3c"] for c in color["colors"]] == [c["w3c"] for c in expected]
    assert [c["value"] for c in color["colors"]] == pytest.approx([c["value"] for c in expected])
    assert out["color_by_url"] == [c["raw_hex"] for c in expected]
    assert out["missing"] == status.MODEL_DOES_NOT_EXIST
    if general_model_installed():
        general = out["general"]
        assert general["code"] == status.SUCCESS
        names = [name for name, _ in general["concepts"]]
        values = [value for _, value in general["concepts"]]
        assert 1 <= len(names) <= 5  # max_concepts and min_value both applied
        assert min(values) >= 0.01
        assert names[0] in CAT_CLASSES
        assert values == sorted(values, reverse=True) and 0 < values[0] <= 1


WORKFLOWS_SCRIPT = (
    HELPERS
    + """
def node(node_id, model_id):
    return resources_pb2.WorkflowNode(id=node_id, model=resources_pb2.Model(
        id=model_id, user_id="clarifai", app_id="main"))


made = stub.PostWorkflows(
    service_pb2.PostWorkflowsRequest(
        user_app_id=user_app_id,
        workflows=[resources_pb2.Workflow(id="look", nodes=[node("colours", os.environ["COLOR_MODEL_ID"])])],
    ),
    metadata=metadata,
)
made_me = stub.PostWorkflows(
    service_pb2.PostWorkflowsRequest(
        user_app_id=app_only,
        workflows=[resources_pb2.Workflow(id="look-again", nodes=[node("c", os.environ["COLOR_MODEL_ID"])])],
    ),
    metadata=metadata,
)
listed = stub.ListWorkflows(service_pb2.ListWorkflowsRequest(user_app_id=user_app_id),
                            metadata=metadata)
results = stub.PostWorkflowResults(
    service_pb2.PostWorkflowResultsRequest(
        user_app_id=user_app_id, workflow_id="look",
        inputs=[resources_pb2.Input(data=resources_pb2.Data(image=resources_pb2.Image(base64=cat_bytes)))],
    ),
    metadata=metadata,
)
out = {
    "post": {"code": code(made), "ids": [w.id for w in made.workflows],
             "nodes": [[n.id, n.model.id] for n in made.workflows[0].nodes] if made.workflows else []},
    "post_me": code(made_me),
    "list": {"code": code(listed), "ids": sorted(w.id for w in listed.workflows)},
    "results": {
        "code": code(results),
        "outputs": [
            [o.model.id, len(o.data.colors)] for r in results.results for o in r.outputs
        ],
    },
}
print(json.dumps(out))
"""
)


def test_workflows_add_list_and_run(server: ServeProcess) -> None:
    out = run(server, WORKFLOWS_SCRIPT, COLOR_MODEL_ID=COLOR_MODEL_ID)
    assert out["post"] == {
        "code": status.SUCCESS,
        "ids": ["look"],
        "nodes": [["colours", COLOR_MODEL_ID]],
    }
    assert out["post_me"] == status.SUCCESS
    assert out["list"] == {"code": status.SUCCESS, "ids": ["look", "look-again"]}
    assert out["results"]["code"] == status.SUCCESS
    [(model_id, color_count)] = out["results"]["outputs"]
    assert model_id == COLOR_MODEL_ID and color_count > 0
