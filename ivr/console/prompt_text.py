"""Edit one prompt inside a prompts YAML file without disturbing the rest of it.

Supervisors change prompts in a table, but the file stays the source of truth: its
comments, its order and its other prompts must come through untouched, so the diff
shown before publishing is exactly the sentence that changed. The prompt's value is
located with PyYAML's own node positions and only those characters are replaced; the
result is read back and checked before it is returned.

A long prompt the supervisor wrapped by hand keeps their line breaks: a changed word changes
its own line, and only a line grown too long is wrapped again (re-filling the paragraph made
one changed word three changed lines in the publish and rollback diffs).
"""

from __future__ import annotations

import difflib
import json
import textwrap
from dataclasses import dataclass
from typing import Any

import yaml

WRAP = 92
"""Long prompts are written as folded blocks, wrapped at this width (as in prompts/en.yaml)."""


class PromptEditError(ValueError):
    """The prompt cannot be changed this way; the message says why, for the supervisor."""


@dataclass(frozen=True, slots=True)
class PromptRow:
    prompt_id: str
    """Dotted id, as flows name it: `faq.returns`."""
    text: str
    line: int


def prompt_rows(text: str) -> list[PromptRow]:
    """Every prompt of a prompts file in file order; [] when the file cannot be read."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return []
    prompts = _child(root, "prompts")
    rows: list[PromptRow] = []
    if isinstance(prompts, yaml.MappingNode):
        _collect(prompts, "", rows)
    return rows


def set_prompt(text: str, prompt_id: str, value: str) -> str:
    """The prompts file with `prompt_id`'s text replaced by `value` (spaces normalised)."""
    value = " ".join(value.split())
    if not value:
        raise PromptEditError(f"prompt '{prompt_id}' cannot be empty")
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise PromptEditError(f"the prompts file is not valid YAML: {exc}") from None
    node: Any = _child(root, "prompts")
    for part in prompt_id.split("."):
        node = _child(node, part)
    if not isinstance(node, yaml.ScalarNode):
        raise PromptEditError(f"there is no prompt '{prompt_id}' to change")
    start, end = node.start_mark.index, node.end_mark.index
    tail = "\n" if text[start:end].endswith("\n") else ""
    for scalar in (_folded(value, node.start_mark.column, text, start), json.dumps(value)):
        candidate = text[:start] + scalar + tail + text[end:]
        if _read_back(candidate, prompt_id) == value:
            return candidate
    raise PromptEditError(f"prompt '{prompt_id}' could not be written back safely")


def add_prompt(text: str, prompt_id: str, value: str) -> str:
    """The prompts file with `prompt_id` added (a prompt another language has and this one
    lacks), after the last prompt of the group it belongs to; the rest of the file untouched."""
    value = " ".join(value.split())
    if not value:
        raise PromptEditError(f"prompt '{prompt_id}' cannot be empty")
    if _read_back(text, prompt_id) is not None:
        raise PromptEditError(f"there is already a prompt '{prompt_id}'")
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise PromptEditError(f"the prompts file is not valid YAML: {exc}") from None
    group: Any = _child(root, "prompts")
    parts = prompt_id.split(".")
    depth = 0
    while depth < len(parts) - 1 and isinstance(_child(group, parts[depth]), yaml.MappingNode):
        group = _child(group, parts[depth])
        depth += 1
    if not isinstance(group, yaml.MappingNode) or not group.value or _child(group, parts[depth]) is not None:
        raise PromptEditError(f"prompt '{prompt_id}' has no place in this file to be added")
    indent = " " * group.value[0][0].start_mark.column
    after = group.value[-1][1].end_mark.index
    if text[after - 1 : after] != "\n":  # a value that ends on its own line: add after that line
        newline = text.find("\n", after)
        after = len(text) if newline < 0 else newline + 1
    lines = [f"{indent}{'  ' * n}{part}:" for n, part in enumerate(parts[depth:-1])]
    lines.append(
        f"{indent}{'  ' * (len(parts) - 1 - depth)}{parts[-1]}: {json.dumps(value, ensure_ascii=False)}"
    )
    head = text[:after] if text[:after].endswith("\n") or not after else text[:after] + "\n"
    candidate = head + "\n".join(lines) + "\n" + text[after:]
    if _read_back(candidate, prompt_id) != value:
        raise PromptEditError(f"prompt '{prompt_id}' could not be added safely")
    return candidate


def _folded(value: str, column: int, text: str, start: int) -> str:
    """A `>-` block for long text, a plain double-quoted string for short text."""
    line_start = text.rfind("\n", 0, start) + 1
    key_indent = len(text[line_start:start]) - len(text[line_start:start].lstrip(" "))
    indent = " " * (key_indent + 2)
    if column + len(value) + 2 <= WRAP:
        return json.dumps(value)
    end = text.find("\n", start)
    header = text[start : end if end >= 0 else len(text)].strip()
    before = _block_lines(text[end + 1 :], indent) if header in (">", ">-") else []
    # the supervisor's own widest line is the limit when it is wider than ours
    width = max(WRAP - len(indent), *(len(" ".join(line)) for line in before))
    lines = [
        wrapped
        for words in _keep_breaks(before, value.split())
        for wrapped in textwrap.wrap(
            " ".join(words), width=width, break_long_words=False, break_on_hyphens=False
        )
    ]
    return ">-\n" + "\n".join(indent + line for line in lines)


def _block_lines(rest: str, indent: str) -> list[list[str]]:
    """The words of each line of a folded block (the lines indented at least `indent`)."""
    lines: list[list[str]] = []
    for line in rest.split("\n"):
        if not line.startswith(indent) or not line.strip():
            break
        lines.append(line.split())
    return lines


def _keep_breaks(before: list[list[str]], words: list[str]) -> list[list[str]]:
    """`words` in lines, broken where the old text's lines broke (matched word for word), so
    an edit inside one line leaves the others as they were. One line when there were none."""
    old = [word for line in before for word in line]
    matcher = difflib.SequenceMatcher(a=old, b=words, autojunk=False)
    blocks = matcher.get_opcodes()

    def moved(i: int) -> int:
        """Where a break after `i` old words falls among the new words."""
        for tag, i1, i2, j1, _j2 in blocks:
            if tag == "equal" and i1 <= i <= i2:
                return j1 + i - i1
        for _tag, i1, i2, j1, j2 in blocks:
            if i1 <= i <= i2:
                return j1 + min(i - i1, j2 - j1)
        return len(words)

    ends, count = [], 0
    for line in before[:-1]:
        count += len(line)
        ends.append(moved(count))
    cuts = sorted({cut for cut in ends if 0 < cut < len(words)})
    return [words[a:b] for a, b in zip([0, *cuts], [*cuts, len(words)], strict=True) if words[a:b]]


def _read_back(text: str, prompt_id: str) -> str | None:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    node: Any = data.get("prompts") if isinstance(data, dict) else None
    for part in prompt_id.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node if isinstance(node, str) else None


def _child(node: Any, key: str) -> yaml.Node | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    for key_node, value_node in node.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
            return value_node
    return None


def _collect(node: yaml.MappingNode, prefix: str, rows: list[PromptRow]) -> None:
    for key_node, value_node in node.value:
        prompt_id = f"{prefix}{key_node.value}"
        if isinstance(value_node, yaml.MappingNode):
            _collect(value_node, f"{prompt_id}.", rows)
        elif isinstance(value_node, yaml.ScalarNode):
            text = " ".join(str(value_node.value).split())
            rows.append(PromptRow(prompt_id, text, key_node.start_mark.line + 1))
