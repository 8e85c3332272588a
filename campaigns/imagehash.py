"""Perceptual image hashes (dHash): near-identical images get hashes a few bits apart.

A resize, re-encode or small colour change moves only a few of the 64 bits, so an image rejected
once is recognised when it comes back under another name or from another account.
"""

from __future__ import annotations

from typing import IO, Any

from PIL import Image, UnidentifiedImageError

HASH_HEX_DIGITS = 16  # 64 bits


def dhash(file: IO[bytes] | Any) -> str:
    """The 64-bit difference hash of an image as 16 hex digits ("" if it cannot be read).

    Grayscale, shrunk to 9x8, then one bit per pair of horizontally adjacent pixels: whether the
    left one is brighter. Brightness gradients survive scaling and compression; pixels do not.
    """
    try:
        file.seek(0)
        with Image.open(file) as img:
            small = img.convert("L").resize((9, 8), Image.Resampling.LANCZOS)
            pixels = small.tobytes()  # one byte per pixel in "L" mode
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return ""
    finally:
        file.seek(0)
    bits = 0
    for row in range(8):
        for col in range(8):
            left, right = pixels[row * 9 + col], pixels[row * 9 + col + 1]
            bits = (bits << 1) | (left > right)
    return f"{bits:0{HASH_HEX_DIGITS}x}"


def distance(a: str, b: str) -> int:
    """How many of the 64 bits differ between two hashes."""
    return (int(a, 16) ^ int(b, 16)).bit_count()
