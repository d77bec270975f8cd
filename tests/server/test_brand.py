"""The committed brand images follow Home Assistant's brand rules and are what scripts/brand.py draws.

Rules (developers.home-assistant.io, "Brand images"): PNG; icons square, 256×256 and @2x 512×512;
logos landscape with the shortest side 128–256 (@2x 256–512); trimmed (no transparent border);
transparent background. The add-on store's `icon.png` is 128×128.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from PIL import Image, ImageChops

ROOT = Path(__file__).resolve().parents[2]
BRAND = ROOT / "custom_components" / "home_security_intelligence" / "brand"

_spec = importlib.util.spec_from_file_location("brand_script", ROOT / "scripts" / "brand.py")
assert _spec is not None and _spec.loader is not None
brand_script = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(brand_script)


@pytest.mark.parametrize("prefix", ["", "dark_"])
def test_integration_icons_and_logos_follow_the_brand_rules(prefix: str) -> None:
    for name, side in (("icon.png", 256), ("icon@2x.png", 512)):
        with Image.open(BRAND / f"{prefix}{name}") as icon:
            assert icon.format == "PNG" and icon.mode == "RGBA"
            assert icon.size == (side, side)
            assert icon.getbbox() is not None
            _, top, _, bottom = icon.getchannel("A").getbbox() or (0, 0, 0, 0)
            assert (top, bottom) == (0, side), "trimmed: the mark touches the top and bottom edges"
            assert icon.getpixel((0, 0))[3] == 0, "transparent background"
    for name, low, high in (("logo.png", 128, 256), ("logo@2x.png", 256, 512)):
        with Image.open(BRAND / f"{prefix}{name}") as logo:
            assert logo.format == "PNG" and logo.mode == "RGBA"
            assert logo.width > logo.height and low <= logo.height <= high
            assert logo.getchannel("A").getbbox() == (0, 0, logo.width, logo.height), "trimmed"


def test_addon_icon_and_logo() -> None:
    with Image.open(ROOT / "addon" / "icon.png") as icon:
        assert icon.format == "PNG" and icon.size == (128, 128)
    with Image.open(ROOT / "addon" / "logo.png") as logo:
        assert logo.format == "PNG" and logo.width > logo.height


def test_committed_images_are_what_the_script_draws() -> None:
    """A hand-edited or stale PNG is caught: rerun scripts/brand.py after changing the geometry."""
    rendered = brand_script.render()
    assert set(rendered) == {*BRAND.glob("*.png"), ROOT / "addon" / "icon.png", ROOT / "addon" / "logo.png"}
    for path, image in rendered.items():
        with Image.open(path) as committed:
            assert committed.size == image.size, path
            difference = ImageChops.difference(committed.convert("RGBA"), image)
            assert max(high for _, high in difference.getextrema()) <= 2, path
