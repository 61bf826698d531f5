"""Add one training phrase to an intent inside a flow's YAML text, leaving the rest untouched.

A supervisor teaches the line a sentence it missed; the flow file stays the source of truth,
so its comments, order and wrapping come through as they were and the diff shown before
publishing is the one phrase. The intent's list for the language is found with PyYAML's node
positions and only the phrase is written in (inside a `[...]` list, wrapped as the list is;
as a new `- ` item in a block list; as a new `<language>: [...]` line when the intent has no
phrases in that language yet). The result is read back and must equal the old flow with the
one phrase added, or nothing is returned: a half-written flow never reaches a draft.
"""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

MAX_PHRASE = 200
"""Characters a phrase may have (a caller's sentence as the recogniser wrote it)."""
WIDTH = 110
"""Lines of a flow file stay within this width (the flow's own style)."""
_PLAIN = re.compile(r"[^\W\d_][\w' .\-]*", re.UNICODE)
_YAML_WORDS = frozenset({"yes", "no", "on", "off", "true", "false", "null", "y", "n"})
_SPACES = re.compile(r"\s+")


class PhraseError(ValueError):
    """The phrase cannot be added this way; the message says why, for the supervisor."""


def clean(said: str) -> str:
    """A caller's words as a phrase: one line, single spaces, lower case, no end punctuation."""
    phrase = _SPACES.sub(" ", said).strip().strip(".?!,;:").strip().lower()
    if not phrase:
        raise PhraseError("There are no words to add.")
    if len(phrase) > MAX_PHRASE:
        raise PhraseError(f"A phrase has at most {MAX_PHRASE} characters.")
    return phrase


def _quoted(phrase: str) -> str:
    """The phrase as a YAML item: plain where YAML reads it back as the same text, else quoted."""
    plain = _PLAIN.fullmatch(phrase) and phrase.lower() not in _YAML_WORDS and not phrase.endswith((" ", "-"))
    return phrase if plain else json.dumps(phrase, ensure_ascii=False)


def _value(node: yaml.Node, key: str) -> yaml.Node | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    return next((v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == key), None)


def add_phrase(text: str, intent: str, language: str, phrase: str) -> str:
    """`text` (a flow's YAML) with `phrase` added to `intent`'s phrases in `language`."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        before = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PhraseError(
            f"The draft's flow is not valid YAML ({exc}); fix it in the flow editor first."
        ) from None
    intents = _value(root, "intents") if root is not None else None
    node = _value(intents, intent) if intents is not None else None
    if not isinstance(node, yaml.MappingNode):
        raise PhraseError(f"The draft has no intent '{intent}'.")
    listed = _value(node, language)
    item = _quoted(phrase)
    if listed is None:
        new = _new_language(text, node, language, item)
    elif isinstance(listed, yaml.SequenceNode) and listed.flow_style:
        new = _into_flow_list(text, listed, item)
    elif isinstance(listed, yaml.SequenceNode) and listed.value:
        last = listed.value[-1]
        cut = _line_end(text, last.end_mark.index)
        dash = last.start_mark.column - 2
        new = f"{text[:cut]}{' ' * dash}- {item}\n{text[cut:]}"
    else:
        raise PhraseError(
            f"The phrases of '{intent}' in '{language}' are not a list; edit them in the flow editor."
        )
    _check(before, yaml.safe_load(new), intent, language, phrase)
    return new


def _line_end(text: str, index: int) -> int:
    """The index just after the end of the line holding `index`."""
    end = text.find("\n", index)
    return len(text) if end < 0 else end + 1


def _into_flow_list(text: str, listed: yaml.SequenceNode, item: str) -> str:
    close = listed.end_mark.index - 1
    if text[close] != "]":
        raise PhraseError("The phrase list ends where it was not expected; edit it in the flow editor.")
    line_start = text.rfind("\n", 0, close) + 1
    indent = listed.value[0].start_mark.column if listed.value else listed.start_mark.column + 1
    if not listed.value:
        return f"{text[:close]}{item}{text[close:]}"
    if close - line_start + len(item) + 3 <= WIDTH:
        return f"{text[:close]}, {item}{text[close:]}"
    return f"{text[:close]},\n{' ' * indent}{item}{text[close:]}"


def _new_language(text: str, node: yaml.MappingNode, language: str, item: str) -> str:
    key, value = node.value[-1]
    end = value.end_mark.index  # a block list ends where the next key starts: step back to its last item
    while end > value.start_mark.index and text[end - 1] in " \t\n":
        end -= 1
    cut = _line_end(text, end)
    return f"{text[:cut]}{' ' * key.start_mark.column}{language}: [{item}]\n{text[cut:]}"


def _check(before: Any, after: Any, intent: str, language: str, phrase: str) -> None:
    """The new flow is the old one with the phrase added, and nothing else changed."""
    expected = json.loads(json.dumps(before))
    phrases = expected["intents"][intent].get(language) or []
    expected["intents"][intent][language] = [*phrases, phrase]
    if json.loads(json.dumps(after)) != expected:
        raise PhraseError(
            "The phrase could not be added without changing something else; add it in the flow editor."
        )
