"""What a creative's image must be: formats, byte size and dimensions, checked with Pillow."""

from __future__ import annotations

from dataclasses import dataclass
from typing import IO, Any

from django.core.exceptions import ValidationError
from PIL import Image, UnidentifiedImageError

# IAB display sizes (New Ad Portfolio fixed sizes and the common legacy ones).
IAB_BANNER_SIZES: tuple[tuple[int, int], ...] = (
    (300, 250),
    (728, 90),
    (160, 600),
    (300, 600),
    (320, 50),
    (320, 100),
    (970, 250),
    (970, 90),
    (468, 60),
    (336, 280),
    (300, 50),
    (250, 250),
    (200, 200),
    (120, 600),
    (300, 1050),
    (180, 150),
)
IMAGE_FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "GIF": "image/gif", "WEBP": "image/webp"}
MAX_IMAGE_BYTES = 1024 * 1024
# Native images are landscape (1.91:1, as on social feeds) or square, at least this wide.
NATIVE_MIN_WIDTH = 600
NATIVE_RATIOS = (1.91, 1.0)
NATIVE_RATIO_TOLERANCE = 0.03


@dataclass(frozen=True, slots=True)
class ImageInfo:
    format: str
    width: int
    height: int
    size_bytes: int


def parse_size(size: str) -> tuple[int, int]:
    """ "300x250" -> (300, 250), as placements store their sizes."""
    width, _, height = size.partition("x")
    return int(width), int(height)


def banner_size_choices() -> list[tuple[str, str]]:
    return [(f"{w}x{h}", f"{w}x{h}") for w, h in IAB_BANNER_SIZES]


def inspect_image(file: IO[bytes] | Any) -> ImageInfo:
    """Open an uploaded image and say what it is; ValidationError if it is not an image we accept."""
    size = getattr(file, "size", None)
    if size is None:
        file.seek(0, 2)
        size = file.tell()
    if size > MAX_IMAGE_BYTES:
        raise ValidationError(
            f"The image is {size / 1024:.0f} KB; the limit is {MAX_IMAGE_BYTES // 1024} KB.", code="too_big"
        )
    try:
        file.seek(0)
        with Image.open(file) as img:
            img.verify()  # checks the whole file, not just the header
            fmt, (width, height) = img.format, img.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise ValidationError(
            "The file is not a readable image. Upload a PNG, JPEG, GIF or WebP.", code="not_an_image"
        ) from None
    finally:
        file.seek(0)
    if fmt not in IMAGE_FORMATS:
        raise ValidationError(
            f"{fmt} images are not accepted. Upload a PNG, JPEG, GIF or WebP.", code="bad_format"
        )
    return ImageInfo(format=fmt, width=width, height=height, size_bytes=size)


def check_banner_dimensions(width: int, height: int) -> None:
    if (width, height) not in IAB_BANNER_SIZES:
        sizes = ", ".join(f"{w}x{h}" for w, h in IAB_BANNER_SIZES)
        raise ValidationError(
            f"A banner of {width}x{height} is not an IAB size. Use one of: {sizes}.", code="not_iab_size"
        )


def check_native_dimensions(width: int, height: int) -> None:
    ratio = width / height if height else 0
    if width < NATIVE_MIN_WIDTH or not any(
        abs(ratio - r) <= NATIVE_RATIO_TOLERANCE * r for r in NATIVE_RATIOS
    ):
        raise ValidationError(
            f"A native image of {width}x{height} does not fit: use 1.91:1 (e.g. 1200x628) or square "
            f"(e.g. 1200x1200), at least {NATIVE_MIN_WIDTH} pixels wide.",
            code="bad_native_size",
        )
