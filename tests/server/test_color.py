"""The colour model: median-cut dominant colours named by the nearest W3C colour."""

from __future__ import annotations

import pytest
from PIL import Image

from clarimap.server.color import W3C_COLORS, ColorModel, dominant_colors, nearest_w3c, srgb_to_lab
from tests.conftest import SAMPLES


def test_the_table_holds_the_140_css_names_with_valid_hex() -> None:
    assert len(W3C_COLORS) == 140
    assert all(len(value) == 7 and value.startswith("#") for value in W3C_COLORS.values())
    assert W3C_COLORS["Red"] == "#ff0000"
    assert W3C_COLORS["WhiteSmoke"] == "#f5f5f5"


@pytest.mark.parametrize("name", sorted(W3C_COLORS))
def test_every_named_colour_is_nearest_to_itself(name: str) -> None:
    value = int(W3C_COLORS[name][1:], 16)
    _name, found_hex = nearest_w3c(((value >> 16) & 255, (value >> 8) & 255, value & 255))
    assert found_hex == W3C_COLORS[name]  # Aqua/Cyan and Fuchsia/Magenta share a hex


def test_lab_of_white_and_black() -> None:
    import numpy as np

    lab = srgb_to_lab(np.array([[255, 255, 255], [0, 0, 0]]))
    assert lab[0] == pytest.approx([100.0, 0.0, 0.0], abs=0.01)
    assert lab[1] == pytest.approx([0.0, 0.0, 0.0], abs=0.01)


def test_a_solid_red_image_is_named_red_with_the_whole_area() -> None:
    colors = dominant_colors(Image.new("RGB", (120, 80), (255, 0, 0)))
    assert colors == [
        {"raw_hex": "#ff0000", "w3c": {"hex": "#ff0000", "name": "Red"}, "value": 1.0}
    ]


def test_a_near_red_is_still_named_red() -> None:
    colors = dominant_colors(Image.new("RGB", (50, 50), (250, 8, 4)))
    assert colors[0]["w3c"]["name"] == "Red"
    assert colors[0]["raw_hex"] == "#fa0804"


@pytest.mark.parametrize("blue_rows", [10, 37, 64])
def test_two_colour_shares_match_the_pixel_counts(blue_rows: int) -> None:
    image = Image.new("RGB", (100, 100), (255, 255, 0))
    image.paste((0, 0, 128), (0, 0, 100, blue_rows))
    colors = {c["w3c"]["name"]: c["value"] for c in dominant_colors(image)}
    assert set(colors) == {"Yellow", "Navy"}
    assert colors["Navy"] == pytest.approx(blue_rows / 100, abs=0.03)
    assert colors["Yellow"] == pytest.approx(1 - blue_rows / 100, abs=0.03)


def test_shares_survive_the_reduction_of_a_large_image() -> None:
    image = Image.new("RGB", (1200, 900), (255, 255, 255))
    image.paste((0, 128, 0), (0, 0, 300, 900))  # a quarter of the width
    colors = {c["w3c"]["name"]: c["value"] for c in dominant_colors(image)}
    assert colors["Green"] == pytest.approx(0.25, abs=0.03)
    assert colors["White"] == pytest.approx(0.75, abs=0.03)


def test_a_photo_gives_at_most_ten_colours_summing_to_one() -> None:
    colors = dominant_colors(Image.open(SAMPLES / "coffee.jpg"))
    assert 2 <= len(colors) <= 10
    assert sum(c["value"] for c in colors) == pytest.approx(1.0)
    values = [c["value"] for c in colors]
    assert values == sorted(values, reverse=True)
    assert all(c["w3c"]["name"] in W3C_COLORS for c in colors)


def test_the_model_answers_one_data_object_per_image() -> None:
    images = [Image.new("RGB", (10, 10), (0, 0, 255)), Image.new("RGB", (10, 10), (0, 0, 0))]
    results = ColorModel().predict(images)
    assert [r["colors"][0]["w3c"]["name"] for r in results] == ["Blue", "Black"]
