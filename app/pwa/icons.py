"""App icons drawn from a WISP's initials and colour, encoded as PNG with zlib alone.

A home-screen icon needs only a coloured square with one or two letters, so a 5×7 bitmap font
scaled up is enough; this avoids Pillow and any font file in the image. Results are cached:
one icon per (initials, colour, size, maskable) is encoded once per process.
"""

from __future__ import annotations

import functools
import re
import struct
import unicodedata
import zlib

# 5 columns × 7 rows per glyph; "#" is ink.
FONT: dict[str, tuple[str, ...]] = {
    "A": (".###.", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"),
    "B": ("####.", "#...#", "#...#", "####.", "#...#", "#...#", "####."),
    "C": (".###.", "#...#", "#....", "#....", "#....", "#...#", ".###."),
    "D": ("####.", "#...#", "#...#", "#...#", "#...#", "#...#", "####."),
    "E": ("#####", "#....", "#....", "####.", "#....", "#....", "#####"),
    "F": ("#####", "#....", "#....", "####.", "#....", "#....", "#...."),
    "G": (".###.", "#...#", "#....", "#.###", "#...#", "#...#", ".####"),
    "H": ("#...#", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"),
    "I": (".###.", "..#..", "..#..", "..#..", "..#..", "..#..", ".###."),
    "J": ("..###", "...#.", "...#.", "...#.", "...#.", "#..#.", ".##.."),
    "K": ("#...#", "#..#.", "#.#..", "##...", "#.#..", "#..#.", "#...#"),
    "L": ("#....", "#....", "#....", "#....", "#....", "#....", "#####"),
    "M": ("#...#", "##.##", "#.#.#", "#.#.#", "#...#", "#...#", "#...#"),
    "N": ("#...#", "#...#", "##..#", "#.#.#", "#..##", "#...#", "#...#"),
    "O": (".###.", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."),
    "P": ("####.", "#...#", "#...#", "####.", "#....", "#....", "#...."),
    "Q": (".###.", "#...#", "#...#", "#...#", "#.#.#", "#..#.", ".##.#"),
    "R": ("####.", "#...#", "#...#", "####.", "#.#..", "#..#.", "#...#"),
    "S": (".####", "#....", "#....", ".###.", "....#", "....#", "####."),
    "T": ("#####", "..#..", "..#..", "..#..", "..#..", "..#..", "..#.."),
    "U": ("#...#", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."),
    "V": ("#...#", "#...#", "#...#", "#...#", "#...#", ".#.#.", "..#.."),
    "W": ("#...#", "#...#", "#...#", "#.#.#", "#.#.#", "#.#.#", ".#.#."),
    "X": ("#...#", "#...#", ".#.#.", "..#..", ".#.#.", "#...#", "#...#"),
    "Y": ("#...#", "#...#", ".#.#.", "..#..", "..#..", "..#..", "..#.."),
    "Z": ("#####", "....#", "...#.", "..#..", ".#...", "#....", "#####"),
    "0": (".###.", "#...#", "#..##", "#.#.#", "##..#", "#...#", ".###."),
    "1": ("..#..", ".##..", "..#..", "..#..", "..#..", "..#..", ".###."),
    "2": (".###.", "#...#", "....#", "...#.", "..#..", ".#...", "#####"),
    "3": ("#####", "...#.", "..#..", "...#.", "....#", "#...#", ".###."),
    "4": ("...#.", "..##.", ".#.#.", "#..#.", "#####", "...#.", "...#."),
    "5": ("#####", "#....", "####.", "....#", "....#", "#...#", ".###."),
    "6": ("..##.", ".#...", "#....", "####.", "#...#", "#...#", ".###."),
    "7": ("#####", "....#", "...#.", "..#..", ".#...", ".#...", ".#..."),
    "8": (".###.", "#...#", "#...#", ".###.", "#...#", "#...#", ".###."),
    "9": (".###.", "#...#", "#...#", ".####", "....#", "...#.", ".##.."),
}
GLYPH_W, GLYPH_H, GAP = 5, 7, 1

DEFAULT_COLOUR = "#1d4ed8"
_COLOUR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")


def initials(name: str) -> str:
    """Up to two letters or digits: the first of each of the first two words ("Acme Net" → AN)."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().upper()
    words = [w for w in re.split(r"[^A-Z0-9]+", ascii_name) if w]
    letters = "".join(w[0] for w in words[:2])
    return letters or "W"


def rgb(colour: str) -> tuple[int, int, int]:
    if not _COLOUR_RE.match(colour):
        colour = DEFAULT_COLOUR
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def _luminance(c: tuple[int, int, int]) -> float:
    def channel(v: int) -> float:
        s = v / 255
        return s / 12.92 if s <= 0.03928 else float(((s + 0.055) / 1.055) ** 2.4)

    r, g, b = (channel(v) for v in c)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def ink_for(background: tuple[int, int, int]) -> tuple[int, int, int]:
    """White or near-black, whichever contrasts more with the background."""
    lum = _luminance(background)
    white = 1.05 / (lum + 0.05)
    dark = (lum + 0.05) / (_luminance((17, 24, 39)) + 0.05)
    return (255, 255, 255) if white >= dark else (17, 24, 39)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data))
        + kind
        + data
        + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def encode_png(width: int, rows: list[bytes]) -> bytes:
    """An 8-bit RGB PNG; each row holds `width` RGB triplets, without the filter byte."""
    raw = b"".join(b"\x00" + row for row in rows)
    header = struct.pack(">IIBBBBB", width, len(rows), 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(raw, 9))
        + _chunk(b"IEND", b"")
    )


@functools.lru_cache(maxsize=256)
def icon_png(text: str, colour: str, size: int, maskable: bool = False) -> bytes:
    """A square icon: the letters centred on the colour; smaller in a maskable icon's safe zone."""
    text = "".join(ch for ch in text.upper() if ch in FONT)[:2] or "W"
    bg = rgb(colour)
    fg = ink_for(bg)
    cols = len(text) * GLYPH_W + (len(text) - 1) * GAP
    # Letters span about half the icon; a maskable icon keeps them inside the central circle.
    share = 0.38 if maskable else 0.52
    scale = max(1, int(size * share / max(cols, GLYPH_H + 2)))
    text_w, text_h = cols * scale, GLYPH_H * scale
    left, top = (size - text_w) // 2, (size - text_h) // 2
    background_row = bytes(bg) * size
    glyph_rows: list[bytes] = []
    for r in range(GLYPH_H):
        row = bytearray(background_row)
        for i, ch in enumerate(text):
            pattern = FONT[ch][r]
            for c, cell in enumerate(pattern):
                if cell == "#":
                    x = left + (i * (GLYPH_W + GAP) + c) * scale
                    row[x * 3 : (x + scale) * 3] = bytes(fg) * scale
        glyph_rows.append(bytes(row))
    rows = [background_row] * size
    for y in range(top, top + text_h):
        rows[y] = glyph_rows[(y - top) // scale]
    return encode_png(size, rows)
