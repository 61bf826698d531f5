"""A small TwiML builder that cannot write ill-formed XML. Pure: elements in, text out.

`Element` escapes every text and attribute and drops the characters XML 1.0 forbids
(control characters), so whatever a flow, a caller or a database row holds, Twilio gets a
well-formed document. twilio's own builder goes through ElementTree, which costs several
times more per answer (about a tenth of a turn's time) and passes control characters
through into ill-formed XML; tests/test_twiml.py checks our documents against it.
"""

from __future__ import annotations

import re
from xml.sax.saxutils import escape

XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
"""Characters no XML 1.0 document may contain, even escaped (NUL, most control characters,
lone surrogates, U+FFFE/U+FFFF)."""
_ATTRIBUTE_ENTITIES = {'"': "&quot;", "\n": "&#10;", "\r": "&#13;", "\t": "&#9;"}
"""Beyond `&<>`: the quote that delimits attributes, and whitespace a parser would otherwise
normalise to spaces."""


def xml_text(value: str) -> str:
    """`value` as element content: forbidden characters dropped, `&<>` escaped."""
    if value.isprintable() and "&" not in value and "<" not in value and ">" not in value:
        return value  # see `xml_attribute`
    return escape(_NOT_XML.sub("", value))


def xml_attribute(value: str) -> str:
    """`value` as a double-quoted attribute value.

    Most values (prompts, speech hints, URLs) need nothing done and are written as they are:
    `escape` copies the string once per entity, a tenth of rendering a turn's TwiML.
    `isprintable` is False for every character XML forbids, and for tabs and line breaks."""
    if (
        value.isprintable()
        and "&" not in value
        and "<" not in value
        and ">" not in value
        and '"' not in value
    ):
        return value
    return escape(_NOT_XML.sub("", value), _ATTRIBUTE_ENTITIES)


class Element:
    """One TwiML verb or noun: its tag, attributes, and text or child elements.

    Attributes are keyword arguments spelled as in Twilio's documentation (`numDigits`,
    `actionOnEmptyResult`); None leaves one out, booleans are written `true`/`false`.
    """

    __slots__ = ("attributes", "children", "tag", "text")

    def __init__(self, tag: str, text: str = "", **attributes: str | int | float | bool | None) -> None:
        self.tag = tag
        self.text = text
        self.attributes = attributes
        self.children: list[Element] = []

    def add(self, tag: str, text: str = "", **attributes: str | int | float | bool | None) -> Element:
        """Append a child element and return it (to nest into it)."""
        child = Element(tag, text, **attributes)
        self.children.append(child)
        return child

    def xml(self) -> str:
        """The element as XML, without a declaration."""
        parts: list[str] = []
        self._write(parts)
        return "".join(parts)

    def _write(self, parts: list[str]) -> None:
        parts.append(f"<{self.tag}")
        for name, value in self.attributes.items():
            if value is None:
                continue
            text = ("true" if value else "false") if isinstance(value, bool) else str(value)
            parts.append(f' {name}="{xml_attribute(text)}"')
        if not self.text and not self.children:
            parts.append("/>")
            return
        parts.append(">")
        parts.append(xml_text(self.text))
        for child in self.children:
            child._write(parts)
        parts.append(f"</{self.tag}>")


class Response(Element):
    """A whole TwiML document; `str()` gives it with its XML declaration."""

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__("Response")

    def __str__(self) -> str:
        return XML_DECLARATION + self.xml()
