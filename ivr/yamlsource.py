"""YAML that remembers where each value came from.

Flows and prompts are edited by hand, so every complaint about them must name the
file and line. PyYAML's `safe_load` forgets positions and silently keeps the last of
two duplicate keys; here the document is composed into nodes and converted by hand,
recording the line of every mapping key and sequence item, and refusing duplicates.
Any text at all gets an answer: a web editor checks a flow on every keystroke, so
even control characters, unknown tags, absurd nesting or an alias bomb are a
located `SourceError`, never a crash or a hang.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

Path_ = tuple[str | int, ...]


class SourceError(ValueError):
    """A problem in a hand-edited file, located to a line."""

    def __init__(self, source: str, line: int | None, message: str) -> None:
        self.source = source
        self.line = line
        self.message = message
        where = f"{source} line {line}" if line else source
        super().__init__(f"{where}: {message}")


@dataclass(slots=True)
class Document:
    """Plain Python data (dicts, lists, str, int, float, bool, None) plus positions."""

    source: str
    data: Any
    lines: dict[Path_, int] = field(default_factory=dict)

    def line(self, path: Path_) -> int | None:
        """The line of the closest enclosing entry that has a position."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), None)

    def error(self, path: Path_, message: str) -> SourceError:
        return SourceError(self.source, self.line(path), message)


MAX_DEPTH = 50
"""Deeper nesting than any flow or prompts file needs; stops runaway input early."""


def load_text(text: str, source: str) -> Document:
    node = _compose(text, source)
    doc = Document(source=source, data=None)
    if node is None:
        raise SourceError(source, None, "the file is empty")
    doc.lines[()] = node.start_mark.line + 1
    doc.data = _convert(node, (), doc, set())
    return doc


def _compose(text: str, source: str) -> yaml.Node | None:
    """libyaml's C parser composes the nodes (a tenth of the pure-Python time: the server
    loads about 18 documents at start-up, the editor one per keystroke). Text it refuses is
    composed again by the pure-Python parser, whose errors name the character and line
    exactly as they always have; libyaml also stops at 1,000 levels of nesting, which the
    conversion below refuses far earlier."""
    try:
        return yaml.compose(text, Loader=_FastLoader)
    except (yaml.YAMLError, RecursionError):
        pass
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise SourceError(source, line, f"not valid YAML: {exc.problem or exc}") from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        message = f"not valid YAML: {exc.reason} (character #x{exc.character:04x})"
        raise SourceError(source, line, message) from None
    except RecursionError:
        raise SourceError(source, None, f"not valid YAML: nested more than {MAX_DEPTH} levels deep") from None


_FastLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""PyYAML built without libyaml (rare: the wheels bundle it) falls back to the pure parser."""


MAX_FILE_BYTES = 256 * 1024
"""The largest flow or prompt file read: the shipped ones are under 15 KB, and YAML parsing
time and memory grow with the file (a mistaken path to a log or a disk image must not hang
`ivr flows` or the server at start-up)."""


def read_text(path: Path) -> str:
    """A file's UTF-8 text, read no further than `MAX_FILE_BYTES` (then `ValueError`).

    Raises `OSError` when unreadable, `UnicodeDecodeError` when not UTF-8, and `ValueError`
    when not a regular file: opened without `O_NONBLOCK`, a FIFO would wait for a writer."""
    with open(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb") as file:
        if not stat.S_ISREG(os.fstat(file.fileno()).st_mode):
            raise ValueError("is not a regular file")
        data = file.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise ValueError(f"is larger than {MAX_FILE_BYTES // 1024} KB; a flow or prompt file is far smaller")
    return data.decode("utf-8")


def load_file(path: Path) -> Document:
    try:
        text = read_text(path)
    except UnicodeDecodeError:
        raise SourceError(str(path), None, "is not UTF-8 text") from None
    except ValueError as exc:
        raise SourceError(str(path), None, str(exc)) from None
    return load_text(text, str(path))


def _convert(node: yaml.Node, path: Path_, doc: Document, seen: set[int]) -> Any:
    """`seen` holds the lists and mappings already converted: an alias to one would copy
    it, and nine aliases of nine aliases of... make billions of copies (a "YAML bomb")."""
    if isinstance(node, yaml.MappingNode | yaml.SequenceNode):
        line = node.start_mark.line + 1
        if id(node) in seen:
            message = "repeating a list or mapping with an alias (*name) is not supported; write it out"
            # The composer hands back the anchored node itself, so its mark is the anchor's;
            # the nearest place of the alias still known is its key, or its list's key.
            where = path[:-1] if path and isinstance(path[-1], int) else path
            raise SourceError(doc.source, doc.line(where) or line, message)
        if len(path) > MAX_DEPTH:
            raise SourceError(doc.source, line, f"nested more than {MAX_DEPTH} levels deep")
        seen.add(id(node))
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise SourceError(doc.source, key_node.start_mark.line + 1, "keys must be text")
            key = str(_convert(key_node, path, doc, seen))
            if key in out:
                raise SourceError(
                    doc.source,
                    key_node.start_mark.line + 1,
                    f"'{key}' appears twice (first on line {doc.lines[(*path, key)]})",
                )
            doc.lines[(*path, key)] = key_node.start_mark.line + 1
            out[key] = _convert(value_node, (*path, key), doc, seen)
        return out
    if isinstance(node, yaml.SequenceNode):
        items = []
        for index, item in enumerate(node.value):
            doc.lines[(*path, index)] = item.start_mark.line + 1
            items.append(_convert(item, (*path, index), doc, seen))
        return items
    assert isinstance(node, yaml.ScalarNode)
    try:
        return _scalar(node)
    except (yaml.YAMLError, ValueError) as exc:  # an unknown tag (!!python/...) or !!int abc
        problem = exc.problem if isinstance(exc, yaml.MarkedYAMLError) else exc
        line = node.start_mark.line + 1
        raise SourceError(doc.source, line, f"cannot read this value: {problem}") from None


_CONSTRUCTOR = yaml.SafeLoader("")


def _scalar(node: yaml.ScalarNode) -> Any:
    return _CONSTRUCTOR.construct_object(node, deep=True)
