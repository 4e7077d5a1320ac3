"""Draw the pack's entity icons with Pillow and write them to entities/icons/ (the output is committed).

    .venv/bin/python tools/make_icons.py [--out DIR]

One visual language: a badge filled with the colour of the entity's tactic (rounded square for values
observed on infrastructure, circle for DTF's own knowledge: tactics, pivots, examples, rules) carrying a
white glyph. The glyphs below are the source drawings, in a 100 x 100 frame; each icon is drawn once
large and scaled down to Maltego's five sizes so thin strokes stay smooth at 16 px.
Rerun after adding a value entity to the catalog (it then gets the glyph of its value kind).
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from dtf_catalog import default_catalog  # noqa: E402
from entities.definitions import ICON_ALIASES_XML, ICON_DIR, icon_files, pack_entities  # noqa: E402

CANVAS = 480          # drawing size in pixels; 5x the largest icon
UNIT = CANVAS / 100   # the glyph frame is 100 x 100
WHITE = (255, 255, 255, 255)
STROKE = 7            # glyph line width in frame units: about 1 px at 16 px


class Pen:
    """Draws in frame units with round line ends, so glyphs read the same at every size."""

    def __init__(self, draw: ImageDraw.ImageDraw, colour):
        self.draw = draw
        self.colour = colour
        self.ink = WHITE

    @staticmethod
    def _p(points):
        return [(x * UNIT, y * UNIT) for x, y in points]

    def line(self, *points, width=STROKE):
        pts = self._p(points)
        self.draw.line(pts, fill=self.ink, width=round(width * UNIT), joint="curve")
        radius = width * UNIT / 2
        for x, y in (pts[0], pts[-1]):
            self.draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=self.ink)

    def box(self, x0, y0, x1, y1, width=STROKE, radius=3, fill=False):
        shape = (x0 * UNIT, y0 * UNIT, x1 * UNIT, y1 * UNIT)
        if fill:
            self.draw.rounded_rectangle(shape, radius=radius * UNIT, fill=self.ink)
        else:
            self.draw.rounded_rectangle(shape, radius=radius * UNIT, outline=self.ink, width=round(width * UNIT))

    def dot(self, x, y, r, hollow=False, width=STROKE):
        shape = ((x - r) * UNIT, (y - r) * UNIT, (x + r) * UNIT, (y + r) * UNIT)
        if hollow:
            self.draw.ellipse(shape, outline=self.ink, width=round(width * UNIT))
        else:
            self.draw.ellipse(shape, fill=self.ink)

    def knock(self, x, y, r):
        """A hole in the colour of the badge (for lenses, rings and cut-outs)."""
        self.draw.ellipse(((x - r) * UNIT, (y - r) * UNIT, (x + r) * UNIT, (y + r) * UNIT), fill=self.colour)

    def arc(self, x0, y0, x1, y1, start, end, width=STROKE):
        self.draw.arc((x0 * UNIT, y0 * UNIT, x1 * UNIT, y1 * UNIT), start, end, fill=self.ink,
                      width=round(width * UNIT))

    def polygon(self, *points):
        self.draw.polygon(self._p(points), fill=self.ink)


# ---- glyphs: the source drawings ------------------------------------------------------------------

def matrix(p: Pen):      # tactic: a cell of the DTF matrix
    for x in (27, 53):
        for y in (27, 53):
            p.box(x, y, x + 20, y + 20, fill=True, radius=3)


def hub(p: Pen):         # pivot: one characteristic shared by several things
    for angle in (90, 210, 330):
        x, y = 50 + 24 * math.cos(math.radians(angle)), 50 - 24 * math.sin(math.radians(angle))
        p.line((50, 50), (x, y))
        p.dot(x, y, 8)
    p.dot(50, 50, 11)


def book(p: Pen):        # example: a published write-up
    p.line((50, 32), (50, 72))
    p.line((50, 32), (28, 28), (28, 68), (50, 72), (72, 68), (72, 28), (50, 32))


def sigma(p: Pen):       # hIGMA rule
    p.line((70, 28), (30, 28), (52, 50), (30, 72), (70, 72))


def registrar(p: Pen):   # registrar: an institution
    p.polygon((24, 40), (50, 24), (76, 40))
    for x in (32, 50, 68):
        p.line((x, 46), (x, 66))
    p.line((25, 74), (75, 74))


def calendar(p: Pen):    # a registration date
    p.box(26, 30, 74, 74)
    p.box(26, 30, 74, 44, fill=True)
    p.line((37, 24), (37, 34))
    p.line((63, 24), (63, 34))
    for x in (38, 50, 62):
        p.dot(x, 58, 4)


def person(p: Pen):      # registrant
    p.dot(50, 38, 12)
    p.draw.chord((26 * UNIT, 54 * UNIT, 74 * UNIT, 98 * UNIT), 180, 360, fill=p.ink)


def server(p: Pen):      # name server domain
    for y in (26, 46, 66):
        p.box(26, y, 74, y + 14, width=6)
        p.dot(64, y + 7, 3)


def globe(p: Pen):       # top-level domain
    p.dot(50, 50, 24, hollow=True)
    p.draw.ellipse((40 * UNIT, 26 * UNIT, 60 * UNIT, 74 * UNIT), outline=p.ink, width=round(5 * UNIT))
    p.line((27, 50), (73, 50), width=5)


def asterisk(p: Pen):    # domain pattern (glob)
    for angle in (90, 30, 150):
        dx, dy = 24 * math.cos(math.radians(angle)), 24 * math.sin(math.radians(angle))
        p.line((50 - dx, 50 - dy), (50 + dx, 50 + dy), width=9)


def tag(p: Pen):         # subdomain label
    p.polygon((26, 30), (54, 30), (76, 52), (54, 74), (26, 74))
    p.knock(38, 42, 5)


def ruler(p: Pen):       # domain length
    p.box(20, 40, 80, 62, width=6)
    for x, h in ((30, 10), (40, 6), (50, 10), (60, 6), (70, 10)):
        p.line((x, 40), (x, 40 + h), width=5)


def envelope(p: Pen):    # SOA responsible-person mailbox
    p.box(22, 32, 78, 70, width=6, radius=2)
    p.line((24, 35), (50, 54), (76, 35), width=6)


def cloud(p: Pen):       # autonomous system name
    for x, y, r in ((36, 56, 13), (52, 46, 17), (66, 58, 11)):
        p.dot(x, y, r)
    p.box(30, 56, 70, 69, fill=True, radius=6)


def certificate(p: Pen):  # certificate issuer organisation
    p.box(22, 28, 78, 64, width=6)
    p.line((32, 40), (60, 40), width=5)
    p.line((32, 51), (50, 51), width=5)
    p.polygon((58, 62), (54, 80), (62, 74), (70, 80), (66, 62))
    p.dot(62, 60, 9)


def clock(p: Pen):       # not-before date
    p.dot(50, 50, 25, hollow=True, width=6)
    p.line((50, 33), (50, 50), width=5)
    p.line((50, 50), (62, 58), width=5)


def code(p: Pen):        # embedded code
    p.line((38, 34), (24, 50), (38, 66))
    p.line((62, 34), (76, 50), (62, 66))
    p.line((55, 30), (45, 70), width=6)


def magnifier(p: Pen):   # keyword
    p.dot(44, 44, 17, hollow=True)
    p.line((57, 57), (74, 74), width=10)


def document(p: Pen):    # resource name
    p.polygon((30, 24), (58, 24), (72, 38), (72, 76), (30, 76))
    p.draw.polygon(p._p([(58, 24), (58, 38), (72, 38)]), fill=p.colour)
    for y in (50, 60):
        p.draw.line(p._p([(38, y), (64, y)]), fill=p.colour, width=round(4 * UNIT))


def pulse(p: Pen):       # HTTP status: the server's answer
    p.line((20, 54), (34, 54), (42, 32), (54, 72), (62, 46), (68, 54), (80, 54))


GLYPHS = {f.__name__: f for f in (matrix, hub, book, sigma, registrar, calendar, person, server, globe, asterisk,
                                  tag, ruler, envelope, cloud, certificate, clock, code, magnifier, document, pulse)}


# ---- rendering -----------------------------------------------------------------------------------

def _rgba(hex_colour: str) -> tuple[int, int, int, int]:
    return tuple(int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)) + (255,)


def _darker(colour, factor=0.72):
    return tuple(round(c * factor) for c in colour[:3]) + (255,)


def draw_icon(glyph: str, colour_hex: str, shape: str) -> Image.Image:
    """The icon at CANVAS size: badge, rim, glyph."""
    if glyph not in GLYPHS:
        raise KeyError(f"no glyph named {glyph!r}; known: {', '.join(sorted(GLYPHS))}")
    colour = _rgba(colour_hex)
    image = Image.new("RGBA", (CANVAS, CANVAS), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    outer = (3 * UNIT, 3 * UNIT, 97 * UNIT, 97 * UNIT)
    inner = (7 * UNIT, 7 * UNIT, 93 * UNIT, 93 * UNIT)
    if shape == "circle":
        draw.ellipse(outer, fill=_darker(colour))
        draw.ellipse(inner, fill=colour)
    else:
        draw.rounded_rectangle(outer, radius=22 * UNIT, fill=_darker(colour))
        draw.rounded_rectangle(inner, radius=19 * UNIT, fill=colour)
    GLYPHS[glyph](Pen(draw, colour))
    return image


def write_icons(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for entity in pack_entities(default_catalog()):
        big = draw_icon(entity.glyph, entity.colour, entity.shape)
        for file_name, size in icon_files(entity.icon):
            path = out / file_name
            big.resize((size, size), Image.LANCZOS).save(path, format="PNG", optimize=True)
            written.append(path)
        xml = out / f"{entity.icon}.xml"
        xml.write_text(ICON_ALIASES_XML, encoding="utf-8")
        written.append(xml)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ICON_DIR, help=f"output directory (default {ICON_DIR})")
    args = parser.parse_args(argv)
    written = write_icons(args.out)
    print(f"wrote {len(written)} files to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
