"""Hand-edited files spoilt the ways people and tools spoil them, for the file fuzz tests.

A shipped file (a CSV export, a flow, a campaign) is the seed: Hypothesis picks a few edits
(a line replaced, a value changed, bytes inserted or cut, a line doubled, the file cut
short) with hostile pieces (control characters, bidi overrides, other scripts' digits, YAML
tags, anchors and aliases, dates past the calendar's end). Starting from a valid file keeps
most cases deep inside the parser, where a random string would stop at the first line.
"""

from __future__ import annotations

from hypothesis import strategies as st

PIECES = [
    "",
    "\x00",
    "\x1b[2J",
    "\u2028",
    "\u202e",
    "\u200b",
    "\ufeff",
    "\r",
    "\t",
    '"',
    "'",
    ",",
    ":",
    ": ",
    "- ",
    "{",
    "[",
    "]",
    "}",
    "&a",
    "*a",
    "!!python/object/apply:os.system ['x']",
    "!!binary AAAA",
    "<<: *a",
    "? ",
    "|",
    ">-",
    "#",
    "%YAML 1.1",
    "---",
    "...",
    "٤٥١٢",
    "４５１２",
    "1e400",
    "-1",
    "9" * 400,
    "9999-12-31",
    "0000-01-01",
    "2026-02-30",
    "25:00",
    "localtime",
    "Factory",
    "yes",
    "no",
    "null",
    "~",
    ".nan",
    "x" * 2000,
    "a: &a [x, x, x]\nb: &b [*a, *a, *a]\nc: [*b, *b, *b]",
    "{a: {a: {a: {a: {a: {a: {a: {a: {a: {a: 1}}}}}}}}}}",
    "[" * 200,
    "𝟘",
    "Ünïcödé",
]
EDITS = st.sampled_from(["line", "value", "insert", "delete", "double", "cut"])
PIECE = st.sampled_from(PIECES)
SPOT = st.integers(0, 10**6)


@st.composite
def spoilt(draw: st.DrawFn, seed: str) -> str:
    """`seed` with one to four edits."""
    text = seed
    for _ in range(draw(st.integers(1, 4))):
        lines = text.split("\n")
        edit, spot, piece = draw(EDITS), draw(SPOT), draw(PIECE)
        row = spot % max(len(lines), 1)
        if edit == "line":
            lines[row] = piece
        elif edit == "value":
            line = lines[row]
            cut = max(line.find(":"), line.find(","))
            lines[row] = line[: cut + 1] + (" " if ":" in line[: cut + 1] else "") + piece
        elif edit == "double":
            lines.insert(row, lines[row])
        text = "\n".join(lines)
        at = spot % (len(text) + 1)
        if edit == "insert":
            text = text[:at] + piece + text[at:]
        elif edit == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 40)) :]
        elif edit == "cut":
            text = text[:at]
    return text
