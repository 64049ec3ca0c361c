"""Concept routes of the local server (wire reference, section 5, endpoints 26-30)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api

REQUIRED_CONCEPT_KEYS = {"id", "name", "value", "created_at", "language", "app_id"}


def assert_concept_shape(concept: dict[str, Any]) -> None:
    assert concept.keys() >= REQUIRED_CONCEPT_KEYS, concept
    assert concept["app_id"], "2.6.2 drops an empty app_id and then fails with KeyError"
    assert concept["created_at"].endswith("Z")


def create(api: Api, *concepts: dict[str, Any]) -> list[dict[str, Any]]:
    code, body = api.post("concepts", {"concepts": list(concepts)})
    assert code == 200, body
    assert body["status"]["code"] == 10000
    return list(body["concepts"])


def test_create_defaults_name_to_id_and_answers_full_concepts(api: Api) -> None:
    made = create(api, {"id": "dog"}, {"id": "cat", "name": "Cat"})
    assert [(c["id"], c["name"]) for c in made] == [("dog", "dog"), ("cat", "Cat")]
    for concept in made:
        assert_concept_shape(concept)
        assert concept["app_id"] == "default"
        assert concept["language"] == "en"


def test_create_existing_id_is_400_40003_and_creates_nothing(api: Api) -> None:
    create(api, {"id": "dog"})
    code, body = api.post("concepts", {"concepts": [{"id": "new"}, {"id": "dog"}]})
    assert code == 400
    assert body["status"]["code"] == 40003
    assert "dog" in body["status"]["details"]
    code, body = api.get("concepts/new")
    assert code == 404  # the batch is all or nothing


def test_create_same_id_twice_in_one_request_is_refused(api: Api) -> None:
    code, body = api.post("concepts", {"concepts": [{"id": "x"}, {"id": "x"}]})
    assert code == 400
    assert "twice" in body["status"]["details"]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"concepts": [{"id": 3}]}, "concepts[0].id: expected a string"),
        ({"concepts": [{"id": "a", "colour": "red"}]}, "concepts[0].colour: unknown field"),
        ({"concepts": "dog"}, "concepts: expected an array"),
        ({"concepts": []}, "at least one concept"),
        ({}, "at least one concept"),
        ({"concepts": [{"name": "no id"}]}, "concepts[0].id: an id is required"),
        ({"concepts": [{"id": "a/b"}]}, "cannot contain '/'"),
        ({"concepts": [{"id": "ç"}]}, "printable ASCII"),
        ({"concepts": [{"id": f"c{i}"} for i in range(129)]}, "at most 128"),
        ({"concepts": [None]}, "concepts[0]: expected an object, got null"),
    ],
)
def test_create_bad_bodies_say_what_was_wrong(api: Api, body: dict[str, Any], says: str) -> None:
    code, answer = api.post("concepts", body)
    assert code == 400
    assert answer["status"]["code"] == 40003
    assert says in answer["status"]["details"]


def test_malformed_json_is_a_400_json_answer(api: Api) -> None:
    code, body = api.call("POST", "concepts", raw=b'{"concepts": [')
    assert code == 400
    assert body["status"]["code"] == 11100
    assert "not valid JSON" in body["status"]["details"]
    code, body = api.call("POST", "concepts", raw=b"[1, 2]")
    assert code == 400
    assert "must be a JSON object" in body["status"]["details"]


def test_get_one_and_404(api: Api) -> None:
    create(api, {"id": "dog", "name": "Dog"})
    code, body = api.get("concepts/dog")
    assert code == 200
    assert body["concept"]["name"] == "Dog"
    assert_concept_shape(body["concept"])
    code, body = api.get("concepts/wolf")
    assert code == 404
    assert body["status"]["code"] == 11101
    assert "wolf" in body["status"]["details"]


def test_both_route_forms_reach_the_same_concepts(api: Api) -> None:
    create(api, {"id": "dog"})
    code, body = api.get("users/local/apps/default/concepts/dog")
    assert code == 200
    assert body["concept"]["id"] == "dog"


def test_list_pages_in_creation_order_and_ends_with_an_empty_page(api: Api) -> None:
    ids = [f"c{i:02d}" for i in range(7)]
    create(api, *({"id": cid} for cid in ids))
    seen: list[str] = []
    page = 1
    while True:
        code, body = api.get("concepts", f"page={page}&per_page=3")
        assert code == 200
        assert body["status"]["code"] == 10000
        if not body["concepts"]:
            break
        assert len(body["concepts"]) <= 3
        seen += [c["id"] for c in body["concepts"]]
        page += 1
    assert seen == ids
    assert page == 4


def test_a_page_far_past_the_end_is_empty(api: Api) -> None:
    create(api, {"id": "dog"})
    code, body = api.get("concepts", "page=99999999999999999999&per_page=1000")
    assert code == 200
    assert body["concepts"] == []


@pytest.mark.parametrize("query", ["page=x", "per_page=-1", "per_page=5000", "page=-2"])
def test_list_with_bad_paging_is_400(api: Api, query: str) -> None:
    code, body = api.get("concepts", query)
    assert code == 400
    assert body["status"]["code"] == 11102


def test_patch_overwrite_renames(api: Api) -> None:
    create(api, {"id": "dog"}, {"id": "cat"})
    code, body = api.patch(
        "concepts", {"action": "overwrite", "concepts": [{"id": "dog", "name": "Hound"}]}
    )
    assert code == 200, body
    assert [(c["id"], c["name"]) for c in body["concepts"]] == [("dog", "Hound")]
    assert_concept_shape(body["concepts"][0])
    assert api.get("concepts/dog")[1]["concept"]["name"] == "Hound"
    assert api.get("concepts/cat")[1]["concept"]["name"] == "cat"


@pytest.mark.parametrize("action", ["merge", "remove", None, "OVERWRITE"])
def test_patch_with_other_actions_is_refused(api: Api, action: str | None) -> None:
    create(api, {"id": "dog"})
    body: dict[str, Any] = {"concepts": [{"id": "dog", "name": "x"}]}
    if action is not None:
        body["action"] = action
    code, answer = api.patch("concepts", body)
    assert code == 400
    assert answer["status"]["code"] == 40003
    assert "overwrite" in answer["status"]["details"]
    assert api.get("concepts/dog")[1]["concept"]["name"] == "dog"


def test_patch_unknown_concept_is_404_and_changes_nothing(api: Api) -> None:
    create(api, {"id": "dog"})
    code, body = api.patch(
        "concepts",
        {
            "action": "overwrite",
            "concepts": [{"id": "dog", "name": "D"}, {"id": "no", "name": "N"}],
        },
    )
    assert code == 404
    assert "'no'" in body["status"]["details"]
    assert api.get("concepts/dog")[1]["concept"]["name"] == "dog"


def test_patch_without_concepts_or_name_is_400(api: Api) -> None:
    create(api, {"id": "dog"})
    code, body = api.patch("concepts", {"action": "overwrite"})
    assert code == 400
    code, body = api.patch("concepts", {"action": "overwrite", "concepts": [{"id": "dog"}]})
    assert code == 400
    assert "name" in body["status"]["details"]


def search(api: Api, query: dict[str, Any], pagination: dict[str, int] | None = None) -> list[str]:
    body: dict[str, Any] = {"concept_query": query}
    if pagination:
        body["pagination"] = pagination
    code, answer = api.post("concepts/searches", body)
    assert code == 200, answer
    for concept in answer["concepts"]:
        assert_concept_shape(concept)
    return [c["name"] for c in answer["concepts"]]


def test_search_by_name_with_wildcards_case_insensitive(api: Api) -> None:
    create(
        api,
        {"id": "dog", "name": "Dog"},
        {"id": "dogfood", "name": "dog food"},
        {"id": "hotdog", "name": "hot dog"},
        {"id": "cat", "name": "cat"},
    )
    assert search(api, {"name": "dog*"}) == ["Dog", "dog food"]
    assert search(api, {"name": "*DOG"}) == ["Dog", "hot dog"]
    assert search(api, {"name": "*o*"}) == ["Dog", "dog food", "hot dog"]
    assert search(api, {"name": "dog"}) == ["Dog"]
    assert search(api, {"name": "do"}) == []
    assert search(api, {"name": "d.g"}) == []  # no regex: only * is special


def test_search_by_language_matches_translations(api: Api) -> None:
    create(api, {"id": "dog", "name": "dog"}, {"id": "cat", "name": "cat"})
    create(api, {"id": "puppy", "name": "小狗", "language": "zh"})
    code, _ = api.patch(
        "concepts",
        {"action": "overwrite", "concepts": [{"id": "dog", "name": "狗", "language": "zh"}]},
    )
    assert code == 200
    code, body = api.post("concepts/searches", {"concept_query": {"name": "狗*", "language": "zh"}})
    assert [(c["id"], c["name"], c["language"]) for c in body["concepts"]] == [("dog", "狗", "zh")]
    assert search(api, {"name": "*狗", "language": "zh"}) == ["狗", "小狗"]
    # the English name is untouched and is what a search without language matches
    assert search(api, {"name": "dog"}) == ["dog"]
    assert search(api, {"name": "cat", "language": "zh"}) == []


def test_search_honours_pagination_to_an_empty_page(api: Api) -> None:
    create(api, *({"id": f"tag{i}"} for i in range(5)))
    pages = [search(api, {"name": "tag*"}, {"page": n, "per_page": 2}) for n in (1, 2, 3, 4)]
    assert pages == [["tag0", "tag1"], ["tag2", "tag3"], ["tag4"], []]


def test_search_bad_bodies(api: Api) -> None:
    code, body = api.post("concepts/searches", {"concept_query": {"nam": "x"}})
    assert code == 400
    assert "concept_query.nam: unknown field" in body["status"]["details"]
    code, body = api.post("concepts/searches", {"concept_query": {"name": 5}})
    assert code == 400
    code, body = api.post(
        "concepts/searches", {"concept_query": {"name": "x"}, "pagination": {"page": "one"}}
    )
    assert code == 400


def test_the_public_app_is_read_only(api: Api) -> None:
    code, body = api.post("users/clarifai/apps/main/concepts", {"concepts": [{"id": "x"}]})
    assert code == 403
    assert "read-only" in body["status"]["details"]
