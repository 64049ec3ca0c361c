"""The legacy ``clarifai==2.6.2`` client's searches against ``clarimap serve`` (section 7.1).

One test starts ``clarimap serve`` (tests/serve_process.py), serves two sample photos from a
loopback media server so that inputs made from URLs can be downloaded, and runs a script with
the real 2.6.2 client (tests/legacy.py): ``search_by_annotated_concepts``, ``search_by_metadata``,
``search_by_geo``, ``search_by_original_url``, ``search_by_image`` and ``SearchQueryBuilder``.
Skipped, with the reason, only where the 2.6.2 virtualenv cannot be built.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import SAMPLES
from tests.legacy import CLIENT_PRELUDE, run_against, skip_without_legacy_client
from tests.serve_process import ServeProcess
from tests.server.mediaserver import MediaServer

pytestmark = pytest.mark.legacy_client

API_KEY = "legacy-search-key"

SCRIPT = (
    CLIENT_PRELUDE
    + r"""
from clarifai.rest import Geo, GeoBox, GeoLimit, GeoPoint
from clarifai.rest import InputSearchTerm, OutputSearchTerm, SearchQueryBuilder

MEDIA = os.environ["CLARIMAP_MEDIA"]

def hits(images):
    return [img.input_id for img in (images or [])]

def scored(images):
    return [[img.input_id, round(img.score, 4)] for img in (images or [])]

app.inputs.bulk_create_images([
    ClImage(filename=sample("cat.jpg"), image_id="cat", concepts=["cat"], not_concepts=["dog"],
            metadata={"owner": {"name": "ana"}, "rating": 3},
            geo=Geo(geo_point=GeoPoint(-30.0, 40.0))),
    ClImage(filename=sample("coffee.jpg"), image_id="coffee", concepts=["drink"],
            metadata={"owner": {"name": "bo"}}, geo=Geo(geo_point=GeoPoint(-30.0, 40.1))),
    ClImage(url=MEDIA + "/rocket.jpg", image_id="rocket", concepts=["space"],
            metadata={"owner": {"name": "ana"}, "rating": 5}),
    ClImage(url=MEDIA + "/galaxies.jpg", image_id="galaxies", concepts=["space"],
            geo=Geo(geo_point=GeoPoint(100.0, -20.0))),
])
deadline = time.time() + 60
while app.inputs.check_status().to_process and time.time() < deadline:
    time.sleep(0.1)

out["concept"] = hits(app.inputs.search_by_annotated_concepts(concept="space"))
out["concept_scores"] = scored(app.inputs.search_by_annotated_concepts(concept="space"))
out["concept_id"] = hits(app.inputs.search_by_annotated_concepts(concept_id="cat"))
out["not_concept"] = hits(app.inputs.search_by_annotated_concepts(concept="dog", value=False))
out["unknown_concept"] = hits(app.inputs.search_by_annotated_concepts(concept="zebra"))
out["metadata"] = hits(app.inputs.search_by_metadata({"owner": {"name": "ana"}}))
out["metadata_number"] = hits(app.inputs.search_by_metadata({"rating": 5}))
out["geo_km"] = hits(app.inputs.search_by_geo(GeoPoint(-30.0, 40.0), GeoLimit("kilometer", 5)))
out["geo_mile"] = hits(app.inputs.search_by_geo(GeoPoint(-30.0, 40.0), GeoLimit("mile", 10)))
out["geo_box"] = hits(app.inputs.search_by_geo(
    geo_box=GeoBox(GeoPoint(90.0, -30.0), GeoPoint(110.0, -10.0))))
out["url"] = hits(app.inputs.search_by_original_url(MEDIA + "/rocket.jpg"))
out["image_id"] = scored(app.inputs.search_by_image(image_id="coffee"))
out["image_file"] = hits(app.inputs.search_by_image(filename=sample("galaxies.jpg")))
out["image_url"] = hits(app.inputs.search_by_image(url=MEDIA + "/rocket.jpg"))
out["image_crop"] = hits(app.inputs.search_by_image(image_id="cat", crop=[0.1, 0.1, 0.9, 0.9]))
out["paged"] = [hits(app.inputs.search_by_annotated_concepts(concept="space", page=p, per_page=1))
                for p in (1, 2, 3)]

qb = SearchQueryBuilder()
qb.add_term(InputSearchTerm(concept="space"))
qb.add_term(InputSearchTerm(metadata={"owner": {"name": "ana"}}))
out["builder_and"] = hits(app.inputs.search(qb))
qb = SearchQueryBuilder()
qb.add_term(InputSearchTerm(metadata={"owner": {"name": "ana"}}))
qb.add_term(OutputSearchTerm(input_id="rocket"))
out["builder_rank"] = scored(app.inputs.search(qb))
try:
    app.inputs.search_by_image(image_id="cat", crop=[0.0, 0.0, 2.0, 1.0])
    out["bad_crop"] = None
except ApiError as error:
    out["bad_crop"] = [error.response.status_code, error.error_code]
print(json.dumps(out))
"""
)


@pytest.fixture(scope="module")
def legacy_ready() -> None:
    """Build (or reuse) the 2.6.2 virtualenv; skip the module with the reason if it cannot."""
    skip_without_legacy_client()


@pytest.fixture
def media() -> Iterator[MediaServer]:
    files = {f"/{name}": (SAMPLES / name).read_bytes() for name in ("rocket.jpg", "galaxies.jpg")}
    server = MediaServer(files).start()
    yield server
    server.close()


def test_legacy_client_searches(legacy_ready: None, tmp_path: Path, media: MediaServer) -> None:
    with ServeProcess(data=tmp_path / "data", api_keys=[API_KEY]) as server:
        out = run_against(server, SCRIPT, api_key=API_KEY, CLARIMAP_MEDIA=media.url("").rstrip("/"))

    assert out["concept"] == ["rocket", "galaxies"]
    assert out["concept_scores"] == [["rocket", 1.0], ["galaxies", 1.0]]
    assert out["concept_id"] == ["cat"]
    assert out["not_concept"] == ["cat"]
    assert out["unknown_concept"] == []
    assert out["metadata"] == ["cat", "rocket"]
    assert out["metadata_number"] == ["rocket"]
    assert out["geo_km"] == ["cat"]  # coffee is 11.1 km north
    assert out["geo_mile"] == ["cat", "coffee"]
    assert out["geo_box"] == ["galaxies"]
    assert out["url"] == ["rocket"]
    assert out["image_id"][0] == ["coffee", 1.0]
    assert len(out["image_id"]) == 4
    assert [score for _, score in out["image_id"]] == sorted(
        (score for _, score in out["image_id"]), reverse=True
    )
    assert out["image_file"][0] == "galaxies"
    assert out["image_url"][0] == "rocket"
    assert out["image_crop"][0] == "cat"
    assert out["paged"] == [["rocket"], ["galaxies"], []]
    assert out["builder_and"] == ["rocket"]
    assert [item[0] for item in out["builder_rank"]] == ["rocket", "cat"]
    assert out["builder_rank"][0][1] == 1.0
    assert out["bad_crop"] == [400, 40002]
