"""CJK fonts for PDF diagrams that every reader accepts.

Noto Sans CJK (Debian ``fonts-noto-cjk``) ships as TrueType Collections holding CFF
outlines. matplotlib's Type 42 writer embeds them as ``CIDFontType2``/``FontFile2``, i.e.
declares TrueType but stores CFF (matplotlib issue #20870): poppler copes with a "Mismatch
between font type and embedded font file" warning, stricter readers may not. So before a
PDF is written, the glyphs its texts use are subset from the collection, converted to
TrueType (quadratic) outlines with fontTools, saved under a unique family name in a
temporary directory, and the texts switched to it. The result is a genuine embedded
``CID TrueType`` font. Cost: ~0.3 s per weight and document.
"""

from __future__ import annotations

import atexit
import hashlib
import shutil
import tempfile
from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties, findfont, fontManager
from matplotlib.text import Text

__all__ = ["use_truetype_fonts"]

_converted: dict[tuple[str, str], str] = {}  # (source file, chars digest) → family name
_workdir: list[Path] = []


def use_truetype_fonts(figures: list[Figure], family: str) -> None:
    """Switch every text of ``figures`` to TrueType subsets of ``family`` (regular and bold).

    Examples
    --------
    >>> use_truetype_fonts([fig], "Noto Sans CJK SC")   # doctest: +SKIP
    """
    groups: dict[bool, list[Text]] = {False: [], True: []}
    for fig in figures:
        for text in fig.findobj(Text):
            if text.get_text():
                groups[_is_bold(text)].append(text)
    for bold, texts in groups.items():
        if not texts:
            continue
        source = findfont(FontProperties(family=family, weight="bold" if bold else "normal"),
                          fallback_to_default=False)
        if not source.lower().endswith((".ttc", ".otf")):
            continue  # already TrueType outlines: matplotlib embeds those correctly
        chars = "".join(sorted({ch for t in texts for ch in t.get_text()} | {" "}))
        new_family = _truetype_subset(source, family, chars)
        for text in texts:
            text.set_fontfamily([new_family])


def _is_bold(text: Text) -> bool:
    weight = text.get_fontweight()
    return (weight >= 600) if isinstance(weight, (int, float)) else weight in ("bold", "heavy", "black",
                                                                               "semibold", "demibold", "extra bold")


def _truetype_subset(source: str, family: str, chars: str) -> str:
    digest = hashlib.sha1(chars.encode()).hexdigest()[:12]
    key = (source, digest)
    if key in _converted:
        return _converted[key]
    from fontTools import subset
    from fontTools.pens.cu2quPen import Cu2QuPen
    from fontTools.pens.ttGlyphPen import TTGlyphPen
    from fontTools.ttLib import newTable

    options = subset.Options()
    options.font_number = _face_index(source, family)
    options.layout_features = []
    options.name_IDs = ["*"]
    options.notdef_outline = True
    font = subset.load_font(source, options)
    subsetter = subset.Subsetter(options=options)
    subsetter.populate(text=chars)
    subsetter.subset(font)
    order = font.getGlyphOrder()
    glyph_set = font.getGlyphSet()
    glyphs = {}
    for name in order:
        pen = TTGlyphPen(glyph_set)
        glyph_set[name].draw(Cu2QuPen(pen, 1.0, reverse_direction=True))  # 1 unit of 1000: invisible
        glyphs[name] = pen.glyph()
    font["loca"] = newTable("loca")
    glyf = font["glyf"] = newTable("glyf")
    glyf.glyphOrder, glyf.glyphs = order, glyphs
    for glyph in glyphs.values():
        glyph.recalcBounds(glyf)
    for tag in ("CFF ", "VORG"):
        if tag in font:
            del font[tag]
    maxp = font["maxp"] = newTable("maxp")
    maxp.tableVersion = 0x00010000
    for field in ("maxZones", "maxTwilightPoints", "maxStorage", "maxFunctionDefs", "maxInstructionDefs",
                  "maxStackElements", "maxSizeOfInstructions", "maxComponentElements"):
        setattr(maxp, field, 0)
    maxp.maxZones = 1
    post = font["post"]
    post.formatType, post.extraNames, post.mapping = 2.0, [], {}
    post.glyphOrder = order
    font.sfntVersion = "\000\001\000\000"
    font.recalcBBoxes = True
    new_family = f"GisgridCJK{digest}{'B' if 'Bold' in Path(source).name else ''}"
    for record in font["name"].names:
        if record.nameID in (1, 16):
            record.string = new_family
        elif record.nameID == 4:
            record.string = f"{new_family} Regular"
        elif record.nameID == 6:
            record.string = f"{new_family}-Regular"
    path = _directory() / f"{new_family}.ttf"
    font.save(path)
    fontManager.addfont(str(path))
    _converted[key] = new_family
    return new_family


def _face_index(source: str, family: str) -> int:
    if not source.lower().endswith(".ttc"):
        return 0
    from fontTools.ttLib import TTCollection

    collection = TTCollection(source, lazy=True)
    for index, face in enumerate(collection.fonts):
        if face["name"].getDebugName(1) == family:
            return index
    return 0


def _directory() -> Path:
    if not _workdir:
        path = Path(tempfile.mkdtemp(prefix="gisgrid-fonts-"))
        atexit.register(shutil.rmtree, path, ignore_errors=True)
        _workdir.append(path)
    return _workdir[0]
