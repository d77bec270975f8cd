"""Render HSI's brand images from one geometry: the integration's `brand/` folder and the add-on's icon/logo.

Home Assistant (2026.3 and later) serves a custom integration's own `brand/` images, so no submission
to the central brands repository is needed; the add-on store shows `addon/icon.png` and `addon/logo.png`.
The mark is a shield (protection) holding a camera lens (what HSI watches). Images are drawn at four
times their size and reduced, which gives smooth edges without an SVG toolchain.

Run with the server venv: `.venv/bin/python scripts/brand.py` (rewrites the PNGs in place).
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parent.parent
BRAND_DIR = ROOT / "custom_components" / "home_security_intelligence" / "brand"
ADDON_DIR = ROOT / "addon"

SCALE = 4
SHIELD = (30, 58, 95, 255)  # deep blue
SHIELD_DARK = (84, 140, 204, 255)  # lighter blue that stays visible on a dark background
LENS_RING = (255, 255, 255, 255)
LENS = (16, 24, 40, 255)
GLINT = (122, 200, 255, 255)
TEXT = (30, 58, 95, 255)
TEXT_DARK = (230, 236, 245, 255)


def _mark(size: int, shield: tuple[int, int, int, int]) -> Image.Image:
    """The square mark, `size` pixels wide, on a transparent background."""
    big = size * SCALE
    image = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    # Touching the top and bottom edges: brand images are trimmed, with no transparent padding.
    top, shoulder, bottom = 0.0, big * 0.26, float(big)
    left, right, mid = big * 0.07, big * 0.93, big / 2
    outline = [
        (mid, top),
        (right, top + big * 0.11),
        (right, shoulder + big * 0.22),
        (mid, bottom),
        (left, shoulder + big * 0.22),
        (left, top + big * 0.11),
    ]
    draw.polygon(outline, fill=shield)
    cx, cy, r = mid, big * 0.45, big * 0.22
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=LENS_RING)
    r2 = r * 0.72
    draw.ellipse((cx - r2, cy - r2, cx + r2, cy + r2), fill=LENS)
    g = r * 0.22
    gx, gy = cx - r2 * 0.35, cy - r2 * 0.35
    draw.ellipse((gx - g, gy - g, gx + g, gy + g), fill=GLINT)
    return image.resize((size, size), Image.Resampling.LANCZOS)


def _logo(height: int, shield: tuple[int, int, int, int], text: tuple[int, int, int, int]) -> Image.Image:
    """The mark followed by the name, `height` pixels high (a landscape image, as logos are)."""
    mark = _mark(height, shield)
    font = ImageFont.load_default(size=int(height * 0.42))
    words = "Home Security\nIntelligence"
    probe = ImageDraw.Draw(Image.new("RGBA", (1, 1)))
    left, top, right, bottom = probe.multiline_textbbox((0, 0), words, font=font, spacing=height // 16)
    width = height + height // 6 + (right - left) + height // 8
    image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    image.alpha_composite(mark, (0, 0))
    y = (height - (bottom - top)) // 2 - top
    ImageDraw.Draw(image).multiline_text(
        (height + height // 6, y), words, font=font, fill=text, spacing=height // 16
    )
    return image.crop(image.getbbox())


def render() -> dict[Path, Image.Image]:
    """Every brand file, by path."""
    return {
        BRAND_DIR / "icon.png": _mark(256, SHIELD),
        BRAND_DIR / "icon@2x.png": _mark(512, SHIELD),
        BRAND_DIR / "dark_icon.png": _mark(256, SHIELD_DARK),
        BRAND_DIR / "dark_icon@2x.png": _mark(512, SHIELD_DARK),
        BRAND_DIR / "logo.png": _logo(128, SHIELD, TEXT),
        BRAND_DIR / "logo@2x.png": _logo(256, SHIELD, TEXT),
        BRAND_DIR / "dark_logo.png": _logo(128, SHIELD_DARK, TEXT_DARK),
        BRAND_DIR / "dark_logo@2x.png": _logo(256, SHIELD_DARK, TEXT_DARK),
        ADDON_DIR / "icon.png": _mark(128, SHIELD),
        ADDON_DIR / "logo.png": _logo(100, SHIELD, TEXT),
    }


def main() -> None:
    BRAND_DIR.mkdir(exist_ok=True)
    for path, image in render().items():
        image.save(path, optimize=True)
        print(f"{path.relative_to(ROOT)}: {image.width}x{image.height}")


if __name__ == "__main__":
    main()
