"""PATCH /v2/inputs against a small reference implementation of the wire reference, section 6.

Random metadata, concept and geo states are created, random patches of each action applied, and
the server's answer (and a later GET) must equal what the reference model below computes. The
model is written from the text of section 6 (and the local server's documented choices in
``clarimap/server/patching.py``), independently of the server's code.
"""

from __future__ import annotations

import base64
import copy
import io
import itertools
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from tests.conftest import Api

_buffer = io.BytesIO()
Image.new("RGB", (3, 3), (1, 2, 3)).save(_buffer, format="PNG")
TINY_PNG = base64.b64encode(_buffer.getvalue()).decode()

_ids = itertools.count()
fixture_ok = settings(
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)

# -- the reference model ------------------------------------------------------------------------


def ref_concept(concept: dict[str, Any]) -> dict[str, Any]:
    value = concept.get("value")
    return {
        "id": concept["id"],
        "name": concept["id"],
        "value": 1.0 if value is None else float(value),
    }


def ref_create(data: dict[str, Any]) -> dict[str, Any]:
    """What the server stores for a create: concepts normalised, one per id (last value wins)."""
    stored = {key: copy.deepcopy(value) for key, value in data.items() if key != "concepts"}
    concepts: list[dict[str, Any]] = []
    for concept in map(ref_concept, data.get("concepts", [])):
        same = [c for c in concepts if c["id"] == concept["id"]]
        if same:
            same[0]["value"] = concept["value"]
        else:
            concepts.append(concept)
    if concepts:
        stored["concepts"] = concepts
    return stored


def drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: drop_nulls(v) for k, v in value.items() if v is not None}
    return copy.deepcopy(value)


def ref_merge_json(old: Any, new: Any) -> Any:
    """merge: null changes nothing; {} and [] replace; objects merge by key; lists append."""
    if new is None:
        return copy.deepcopy(old)
    if isinstance(new, dict):
        if new == {} or not isinstance(old, dict):
            return drop_nulls(new)
        merged = copy.deepcopy(old)
        for key, value in new.items():
            if value is not None:
                merged[key] = ref_merge_json(old.get(key), value)
        return merged
    if isinstance(new, list) and new and isinstance(old, list):
        return copy.deepcopy(old) + copy.deepcopy(new)
    return copy.deepcopy(new)


def ref_merge(data: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    result = copy.deepcopy(data)
    for key, value in patch.items():
        if value is None:
            continue
        if key == "concepts":
            if value == []:
                result["concepts"] = []
                continue
            concepts = result.setdefault("concepts", [])
            for concept in map(ref_concept, value):
                for existing in concepts:
                    if existing["id"] == concept["id"]:
                        existing["value"] = concept["value"]
                        break
                else:
                    concepts.append(concept)
        else:
            result[key] = ref_merge_json(result.get(key), value)
    return result


def ref_remove_json(old: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """remove: true deletes; null/{} nothing; objects descend; anything else overwrites."""
    result = copy.deepcopy(old)
    for key, value in patch.items():
        if value is True:
            result.pop(key, None)
        elif isinstance(value, dict):
            if isinstance(result.get(key), dict):
                result[key] = ref_remove_json(result[key], value)
        elif value is not None:
            result[key] = copy.deepcopy(value)
    return result


def ref_remove(data: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    result = copy.deepcopy(data)
    for key, value in patch.items():
        if value is None:
            continue
        if key == "concepts":
            doomed = {concept["id"] for concept in value}
            if "concepts" in result:
                result["concepts"] = [c for c in result["concepts"] if c["id"] not in doomed]
        elif isinstance(result.get(key), dict):
            result[key] = ref_remove_json(result[key], value)
    return result


def ref_overwrite(data: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    return ref_create({key: value for key, value in patch.items() if value is not None})


REFERENCE = {"merge": ref_merge, "remove": ref_remove, "overwrite": ref_overwrite}


def comparable(data: dict[str, Any]) -> str:
    """Canonical JSON of an input's data without its image (empty lists are left out on the wire)."""
    kept = {k: v for k, v in data.items() if k not in ("image", "video") and v != []}
    return json.dumps(kept, sort_keys=True)


# -- strategies ---------------------------------------------------------------------------------

KEYS = st.sampled_from(["a", "b", "c", "k", "id"])
SCALARS = st.one_of(
    st.integers(-5, 5),
    st.sampled_from([0.5, -2.25, 1e3]),
    st.booleans(),
    st.text("xyz", max_size=3),
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(KEYS, inner, max_size=3),
        st.lists(
            st.fixed_dictionaries({"id": st.sampled_from(["p", "q"]), "v": st.integers(0, 3)}),
            max_size=2,
        ),
    ),
    max_leaves=8,
)
METADATA = st.dictionaries(KEYS, JSON_VALUES, max_size=4)
CONCEPT_IDS = st.sampled_from(["cat", "dog", "fox", "owl"])


def concept(values: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.builds(
        lambda cid, value: {"id": cid} if value is None else {"id": cid, "value": value},
        CONCEPT_IDS,
        values,
    )


VALUE = st.sampled_from([None, 0, 1, 1.0, 0.0])
GEO = st.builds(
    lambda lon, lat: {"geo_point": {"longitude": float(lon), "latitude": float(lat)}},
    st.integers(-180, 180),
    st.integers(-90, 90),
)
STATE = st.fixed_dictionaries(
    {},
    optional={
        "concepts": st.lists(concept(VALUE), max_size=4, unique_by=lambda c: c["id"]),
        "metadata": METADATA,
        "geo": GEO,
    },
)

MERGE_VALUES = st.recursive(
    st.one_of(SCALARS, st.none()),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(KEYS, inner, max_size=3)),
    max_leaves=8,
)
MERGE_PATCH = st.fixed_dictionaries(
    {},
    optional={
        "concepts": st.one_of(st.none(), st.lists(concept(VALUE), max_size=4)),
        "metadata": st.one_of(st.none(), st.dictionaries(KEYS, MERGE_VALUES, max_size=4)),
        "geo": st.one_of(st.none(), GEO),
    },
)
REMOVE_VALUES = st.recursive(
    st.one_of(st.just(True), st.just(True), st.none(), SCALARS, st.lists(SCALARS, max_size=2)),
    lambda inner: st.dictionaries(KEYS, inner, max_size=3),
    max_leaves=8,
)
REMOVE_PATCH = st.fixed_dictionaries(
    {},
    optional={
        "concepts": st.lists(concept(VALUE), max_size=4),
        "metadata": st.one_of(st.none(), st.dictionaries(KEYS, REMOVE_VALUES, max_size=4)),
        "geo": st.one_of(
            st.none(),
            st.builds(lambda lat: {"geo_point": {"latitude": float(lat)}}, st.integers(-90, 90)),
        ),
    },
)
OVERWRITE_PATCH = st.fixed_dictionaries(
    {},
    optional={
        "concepts": st.lists(concept(VALUE), max_size=4),
        "metadata": st.one_of(st.none(), METADATA),
        "geo": st.one_of(st.none(), GEO),
    },
)
PATCHES = {"merge": MERGE_PATCH, "remove": REMOVE_PATCH, "overwrite": OVERWRITE_PATCH}
ACTION_AND_PATCH = st.sampled_from(sorted(PATCHES)).flatmap(
    lambda action: st.tuples(st.just(action), PATCHES[action])
)

# -- the properties -----------------------------------------------------------------------------


def create_input(api: Api, state: dict[str, Any]) -> str:
    input_id = f"prop-{next(_ids)}"
    code, body = api.post(
        "inputs", {"inputs": [{"id": input_id, "data": {"image": {"base64": TINY_PNG}, **state}}]}
    )
    assert code == 200, body
    assert comparable(body["inputs"][0]["data"]) == comparable(ref_create(state))
    return input_id


def check_patch(
    api: Api, input_id: str, action: str, patch: dict[str, Any], expected: dict[str, Any]
) -> None:
    code, body = api.patch(
        "inputs", {"action": action, "inputs": [{"id": input_id, "data": patch}]}
    )
    assert code == 200, body
    [item] = body["inputs"]
    assert item["status"]["code"] == 30200
    assert comparable(item["data"]) == comparable(expected), (action, patch)
    assert api.fetch_media(item["data"]["image"]) == base64.b64decode(TINY_PNG)
    code, got = api.get(f"inputs/{input_id}")
    assert comparable(got["input"]["data"]) == comparable(expected)


@fixture_ok
@given(state=STATE, patch=MERGE_PATCH)
def test_merge_matches_the_reference(
    api: Api, state: dict[str, Any], patch: dict[str, Any]
) -> None:
    input_id = create_input(api, state)
    check_patch(api, input_id, "merge", patch, ref_merge(ref_create(state), patch))


@fixture_ok
@given(state=STATE, patch=REMOVE_PATCH)
def test_remove_matches_the_reference(
    api: Api, state: dict[str, Any], patch: dict[str, Any]
) -> None:
    input_id = create_input(api, state)
    check_patch(api, input_id, "remove", patch, ref_remove(ref_create(state), patch))


@fixture_ok
@given(state=STATE, patch=OVERWRITE_PATCH)
def test_overwrite_matches_the_reference(
    api: Api, state: dict[str, Any], patch: dict[str, Any]
) -> None:
    input_id = create_input(api, state)
    check_patch(api, input_id, "overwrite", patch, ref_overwrite(ref_create(state), patch))


@fixture_ok
@given(state=STATE, steps=st.lists(ACTION_AND_PATCH, min_size=1, max_size=4))
def test_a_sequence_of_patches_matches_the_reference(
    api: Api, state: dict[str, Any], steps: list[tuple[str, dict[str, Any]]]
) -> None:
    input_id = create_input(api, state)
    expected = ref_create(state)
    for action, patch in steps:
        expected = REFERENCE[action](expected, patch)
        check_patch(api, input_id, action, patch, expected)


@fixture_ok
@given(state=STATE, patch=REMOVE_PATCH)
def test_the_search_index_follows_every_patch(
    api: Api, state: dict[str, Any], patch: dict[str, Any]
) -> None:
    input_id = create_input(api, state)
    expected = ref_remove(ref_create(state), patch)
    api.patch("inputs", {"action": "remove", "inputs": [{"id": input_id, "data": patch}]})
    with api.server.store.read() as connection:
        seq = connection.execute("SELECT seq FROM inputs WHERE id = ?", (input_id,)).fetchone()[0]
        indexed = connection.execute(
            "SELECT concept_id, value FROM input_concepts WHERE seq = ? ORDER BY concept_id", (seq,)
        ).fetchall()
        geo = connection.execute("SELECT latitude FROM input_geo WHERE seq = ?", (seq,)).fetchall()
    assert [tuple(row) for row in indexed] == sorted(
        (c["id"], c["value"]) for c in expected.get("concepts", [])
    )
    expected_geo = expected.get("geo", {}).get("geo_point")
    assert [row[0] for row in geo] == ([expected_geo["latitude"]] if expected_geo else [])
