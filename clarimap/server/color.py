"""The colour model: dominant colours of an image, each named by its nearest W3C/CSS colour.

Pillow's median-cut quantisation (``Image.quantize(method=MEDIANCUT)``) splits the image's pixels
into at most :data:`MAX_COLORS` boxes; each box's mean colour becomes a ``raw_hex``, its share of
the pixels its ``value``, and the nearest of the 140 named colours of CSS (distance in CIELAB,
which follows what a person sees better than RGB distance) its ``w3c`` name. The output has the
shape of the wire reference, section 8::

    {"colors": [{"raw_hex": "#f2f2f2", "w3c": {"hex": "#f5f5f5", "name": "WhiteSmoke"}, "value": 0.43}]}

Registered as a built-in of the model zoo (:mod:`clarimap.server.modelzoo`) under the public id of
the colour model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

MAX_COLORS = 10
"""How many colours the quantisation may find (fewer when the image has fewer)."""

MAX_SIDE = 256
"""Images are reduced (nearest neighbour, which keeps pixel shares) to this side first."""

# The 140 colour names of CSS Color Module Level 3 (the X11 set), spelled as Clarifai spells them.
W3C_COLORS: dict[str, str] = {
    "AliceBlue": "#f0f8ff",
    "AntiqueWhite": "#faebd7",
    "Aqua": "#00ffff",
    "Aquamarine": "#7fffd4",
    "Azure": "#f0ffff",
    "Beige": "#f5f5dc",
    "Bisque": "#ffe4c4",
    "Black": "#000000",
    "BlanchedAlmond": "#ffebcd",
    "Blue": "#0000ff",
    "BlueViolet": "#8a2be2",
    "Brown": "#a52a2a",
    "BurlyWood": "#deb887",
    "CadetBlue": "#5f9ea0",
    "Chartreuse": "#7fff00",
    "Chocolate": "#d2691e",
    "Coral": "#ff7f50",
    "CornflowerBlue": "#6495ed",
    "Cornsilk": "#fff8dc",
    "Crimson": "#dc143c",
    "Cyan": "#00ffff",
    "DarkBlue": "#00008b",
    "DarkCyan": "#008b8b",
    "DarkGoldenRod": "#b8860b",
    "DarkGray": "#a9a9a9",
    "DarkGreen": "#006400",
    "DarkKhaki": "#bdb76b",
    "DarkMagenta": "#8b008b",
    "DarkOliveGreen": "#556b2f",
    "DarkOrange": "#ff8c00",
    "DarkOrchid": "#9932cc",
    "DarkRed": "#8b0000",
    "DarkSalmon": "#e9967a",
    "DarkSeaGreen": "#8fbc8f",
    "DarkSlateBlue": "#483d8b",
    "DarkSlateGray": "#2f4f4f",
    "DarkTurquoise": "#00ced1",
    "DarkViolet": "#9400d3",
    "DeepPink": "#ff1493",
    "DeepSkyBlue": "#00bfff",
    "DimGray": "#696969",
    "DodgerBlue": "#1e90ff",
    "FireBrick": "#b22222",
    "FloralWhite": "#fffaf0",
    "ForestGreen": "#228b22",
    "Fuchsia": "#ff00ff",
    "Gainsboro": "#dcdcdc",
    "GhostWhite": "#f8f8ff",
    "Gold": "#ffd700",
    "GoldenRod": "#daa520",
    "Gray": "#808080",
    "Green": "#008000",
    "GreenYellow": "#adff2f",
    "HoneyDew": "#f0fff0",
    "HotPink": "#ff69b4",
    "IndianRed": "#cd5c5c",
    "Indigo": "#4b0082",
    "Ivory": "#fffff0",
    "Khaki": "#f0e68c",
    "Lavender": "#e6e6fa",
    "LavenderBlush": "#fff0f5",
    "LawnGreen": "#7cfc00",
    "LemonChiffon": "#fffacd",
    "LightBlue": "#add8e6",
    "LightCoral": "#f08080",
    "LightCyan": "#e0ffff",
    "LightGoldenRodYellow": "#fafad2",
    "LightGray": "#d3d3d3",
    "LightGreen": "#90ee90",
    "LightPink": "#ffb6c1",
    "LightSalmon": "#ffa07a",
    "LightSeaGreen": "#20b2aa",
    "LightSkyBlue": "#87cefa",
    "LightSlateGray": "#778899",
    "LightSteelBlue": "#b0c4de",
    "LightYellow": "#ffffe0",
    "Lime": "#00ff00",
    "LimeGreen": "#32cd32",
    "Linen": "#faf0e6",
    "Magenta": "#ff00ff",
    "Maroon": "#800000",
    "MediumAquaMarine": "#66cdaa",
    "MediumBlue": "#0000cd",
    "MediumOrchid": "#ba55d3",
    "MediumPurple": "#9370db",
    "MediumSeaGreen": "#3cb371",
    "MediumSlateBlue": "#7b68ee",
    "MediumSpringGreen": "#00fa9a",
    "MediumTurquoise": "#48d1cc",
    "MediumVioletRed": "#c71585",
    "MidnightBlue": "#191970",
    "MintCream": "#f5fffa",
    "MistyRose": "#ffe4e1",
    "Moccasin": "#ffe4b5",
    "NavajoWhite": "#ffdead",
    "Navy": "#000080",
    "OldLace": "#fdf5e6",
    "Olive": "#808000",
    "OliveDrab": "#6b8e23",
    "Orange": "#ffa500",
    "OrangeRed": "#ff4500",
    "Orchid": "#da70d6",
    "PaleGoldenRod": "#eee8aa",
    "PaleGreen": "#98fb98",
    "PaleTurquoise": "#afeeee",
    "PaleVioletRed": "#db7093",
    "PapayaWhip": "#ffefd5",
    "PeachPuff": "#ffdab9",
    "Peru": "#cd853f",
    "Pink": "#ffc0cb",
    "Plum": "#dda0dd",
    "PowderBlue": "#b0e0e6",
    "Purple": "#800080",
    "Red": "#ff0000",
    "RosyBrown": "#bc8f8f",
    "RoyalBlue": "#4169e1",
    "SaddleBrown": "#8b4513",
    "Salmon": "#fa8072",
    "SandyBrown": "#f4a460",
    "SeaGreen": "#2e8b57",
    "SeaShell": "#fff5ee",
    "Sienna": "#a0522d",
    "Silver": "#c0c0c0",
    "SkyBlue": "#87ceeb",
    "SlateBlue": "#6a5acd",
    "SlateGray": "#708090",
    "Snow": "#fffafa",
    "SpringGreen": "#00ff7f",
    "SteelBlue": "#4682b4",
    "Tan": "#d2b48c",
    "Teal": "#008080",
    "Thistle": "#d8bfd8",
    "Tomato": "#ff6347",
    "Turquoise": "#40e0d0",
    "Violet": "#ee82ee",
    "Wheat": "#f5deb3",
    "White": "#ffffff",
    "WhiteSmoke": "#f5f5f5",
    "Yellow": "#ffff00",
    "YellowGreen": "#9acd32",
}


def _hex_to_rgb(text: str) -> tuple[int, int, int]:
    value = int(text.lstrip("#"), 16)
    return (value >> 16) & 255, (value >> 8) & 255, value & 255


def rgb_to_hex(rgb: Sequence[int]) -> str:
    """``(242, 242, 242)`` -> ``"#f2f2f2"``."""
    red, green, blue = (int(c) for c in rgb[:3])
    return f"#{red:02x}{green:02x}{blue:02x}"


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """CIELAB (D65) coordinates of sRGB colours given as an ``(n, 3)`` array of 0-255 values."""
    linear = rgb.astype(np.float64) / 255.0
    linear = np.where(linear <= 0.04045, linear / 12.92, ((linear + 0.055) / 1.055) ** 2.4)
    to_xyz = np.array(
        [
            [0.4124564, 0.3575761, 0.1804375],
            [0.2126729, 0.7151522, 0.0721750],
            [0.0193339, 0.1191920, 0.9503041],
        ]
    )
    xyz = linear @ to_xyz.T / np.array([0.95047, 1.0, 1.08883])
    epsilon, kappa = 216 / 24389, 24389 / 27
    f = np.where(xyz > epsilon, np.cbrt(xyz), (kappa * xyz + 16) / 116)
    return np.stack(
        [116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])], axis=1
    )


_W3C_NAMES = list(W3C_COLORS)
_W3C_LAB = srgb_to_lab(np.array([_hex_to_rgb(W3C_COLORS[name]) for name in _W3C_NAMES]))


def nearest_w3c(rgb: Sequence[int]) -> tuple[str, str]:
    """``(name, hex)`` of the named colour nearest to ``rgb`` (the first name on a tie)."""
    lab = srgb_to_lab(np.array([list(rgb[:3])]))[0]
    index = int(np.argmin(((_W3C_LAB - lab) ** 2).sum(axis=1)))
    name = _W3C_NAMES[index]
    return name, W3C_COLORS[name]


def dominant_colors(image: Image.Image, max_colors: int = MAX_COLORS) -> list[dict[str, Any]]:
    """The image's dominant colours, largest share first, in the wire's ``colors`` shape."""
    rgb = image.convert("RGB")
    if max(rgb.size) > MAX_SIDE:
        scale = MAX_SIDE / max(rgb.size)
        size = (max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale)))
        rgb = rgb.resize(size, Image.Resampling.NEAREST)
    quantised = rgb.quantize(colors=max_colors, method=Image.Quantize.MEDIANCUT)
    palette = quantised.getpalette() or []
    total = rgb.width * rgb.height
    shares: dict[str, int] = {}
    for count, index in quantised.getcolors(maxcolors=256) or []:
        start = 3 * int(index)  # type: ignore[arg-type]
        raw = rgb_to_hex(palette[start : start + 3])
        shares[raw] = shares.get(raw, 0) + count
    colors: list[dict[str, Any]] = []
    for raw_hex, count in shares.items():
        name, w3c_hex = nearest_w3c(_hex_to_rgb(raw_hex))
        colors.append(
            {"raw_hex": raw_hex, "w3c": {"hex": w3c_hex, "name": name}, "value": count / total}
        )
    colors.sort(key=lambda color: -float(color["value"]))
    return colors


class ColorModel:
    """The public colour model of the wire reference (id ``eeed0b67...``), as a runnable model."""

    model_id = "eeed0b6733a644cea07cf4c60f87ebb7"
    name = "color"
    type = "color"
    type_ext = "color"
    model_type_id = "visual-classifier"
    concepts: Sequence[dict[str, str]] = ()

    def predict(self, images: Sequence[Image.Image], config: Any = None) -> list[dict[str, Any]]:
        """One ``{"colors": [...]}`` a image."""
        return [{"colors": dominant_colors(image)} for image in images]
