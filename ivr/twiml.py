"""Render the engine's steps as TwiML. Pure: data in, XML text out.

Rendering choices that make a line kind to callers live here:
- prompts that lead into a question go *inside* `<Gather>`, so a caller who knows
  the menu can press a key without waiting for the prompt to end;
- every `<Gather>` is followed by a `<Redirect>` that reports silence, so a caller who
  says nothing is re-prompted instead of meeting dead air.

The XML is written by `Element`, a small builder that escapes every text and attribute and
drops the characters XML 1.0 forbids (control characters), so whatever a flow, a caller or
a database row holds, Twilio gets a well-formed document. twilio's own builder goes through
ElementTree, which costs several times more per answer and passes control characters
through into ill-formed XML; tests/test_twiml.py checks our answers against it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape

from ivr.flow.steps import Gather, Hangup, Say, Transfer
from ivr.handoff import HandOff

XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
"""Characters no XML 1.0 document may contain, even escaped (NUL, most control characters,
lone surrogates, U+FFFE/U+FFFF)."""
_ATTRIBUTE_ENTITIES = {'"': "&quot;", "\n": "&#10;", "\r": "&#13;", "\t": "&#9;"}
"""Beyond `&<>`: the quote that delimits attributes, and whitespace a parser would otherwise
normalise to spaces."""


def xml_text(value: str) -> str:
    """`value` as element content: forbidden characters dropped, `&<>` escaped."""
    return escape(_NOT_XML.sub("", value))


def xml_attribute(value: str) -> str:
    """`value` as a double-quoted attribute value."""
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


@dataclass(frozen=True, slots=True)
class Audio:
    """A prompt as a recording this service serves (locally synthesised speech)."""

    url: str
    text: str
    interruptible: bool = True


Prompt = Say | Audio
Renderable = Say | Audio | Gather | Transfer | Hangup


@dataclass(frozen=True, slots=True)
class Voice:
    """How `<Say>` speaks and `<Gather>` listens."""

    language: str = "en-US"
    voice: str = ""


def add_say(target: Element, text: str, voice: Voice) -> None:
    """`<Say>` in the line's language and voice."""
    target.add("Say", text, language=voice.language, voice=voice.voice or None)


def _add_prompt(target: Element, prompt: Prompt, voice: Voice) -> None:
    if isinstance(prompt, Audio):
        target.add("Play", prompt.url)
    else:
        add_say(target, prompt.text, voice)


def render(
    steps: Sequence[Renderable],
    *,
    turn_url: str,
    voice: Voice,
    handoff: HandOff,
) -> str:
    """TwiML for one turn. `turn_url` receives the caller's answer (and silence, with `silence=1`)."""
    response = Response()
    pending: list[Prompt] = []

    def flush() -> None:
        for prompt in pending:
            _add_prompt(response, prompt, voice)
        pending.clear()

    for step in steps:
        match step:
            case Say() | Audio():
                if not step.interruptible:
                    flush()
                    _add_prompt(response, step, voice)
                else:
                    pending.append(step)
            case Gather():
                gather = response.add(
                    "Gather",
                    input="dtmf speech" if step.speech else "dtmf",
                    action=turn_url,
                    method="POST",
                    timeout=step.timeout,
                    actionOnEmptyResult=False,
                    language=voice.language if step.speech else None,
                    speechTimeout="auto" if step.speech else None,
                    speechModel="numbers_and_commands" if step.speech and step.digits else None,
                    hints=", ".join(step.hints) if step.hints else None,
                    # A menu key is one press; '#' may be an option, so it must not end input.
                    finishOnKey=step.finish_on_key if step.digits else "",
                    numDigits=step.max_digits if step.digits else 1,
                )
                for prompt in pending:
                    _add_prompt(gather, prompt, voice)
                pending.clear()
                response.add("Redirect", f"{turn_url}&silence=1", method="POST")
            case Transfer():
                flush()
                handoff.render(response, step, f"{turn_url}&transfer=1")
            case Hangup():
                flush()
                response.add("Hangup")
    flush()
    return str(response)


def render_stream(stream_url: str, action_url: str, parameters: Mapping[str, str]) -> str:
    """Hand the call to a bidirectional media stream; Twilio posts `action_url` when it closes.

    A stream URL cannot carry a query string: per-call values travel as `<Parameter>`s
    and arrive in the stream's `start` message.
    """
    response = Response()
    stream = response.add("Connect", action=action_url, method="POST").add("Stream", url=stream_url)
    for name, value in parameters.items():
        stream.add("Parameter", name=name, value=value)
    return str(response)


def render_fallback(text: str, *, voice: Voice, handoff: HandOff, after_url: str) -> str:
    """Used when the service itself fails mid-call: apologise and reach a person.

    Needs no flow, no store and no synthesiser, so it works whatever broke.
    """
    response = Response()
    add_say(response, text, voice)
    handoff.render(response, Transfer(reason="system_error"), after_url)
    return str(response)


def render_goodbye(text: str | None, *, voice: Voice) -> str:
    response = Response()
    if text:
        add_say(response, text, voice)
    response.add("Hangup")
    return str(response)
