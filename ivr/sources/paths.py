"""The JSONPath-like expressions a sources file maps a response with (pure).

A small, closed subset on purpose: `$`, `.name`, `['name']`, `[3]`, `[-1]`, `[*]` and
`[?key=='value']` (the first item whose `key` is `value`, as WooCommerce's `meta_data`
needs). Anything else is refused when the file is read, with the reason, so a typo is a
located error at start-up and never a silent empty field read to a caller.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

_STEP = re.compile(
    r"""\.(?P<name>[A-Za-z_][A-Za-z0-9_-]*)
      | \[(?P<index>-?[0-9]+)\]
      | \[(?P<all>\*)\]
      | \['(?P<quoted>[^']+)'\]
      | \[\?(?P<key>[A-Za-z_][A-Za-z0-9_-]*)==(?P<q>['"])(?P<value>[^'"]*)(?P=q)\]""",
    re.VERBOSE,
)


class PathError(ValueError):
    """An expression outside the subset; the message says where it stops making sense."""


@dataclass(frozen=True, slots=True)
class Step:
    name: str | None = None
    index: int | None = None
    every: bool = False
    where: tuple[str, str] | None = None


@dataclass(frozen=True, slots=True)
class JsonPath:
    text: str
    steps: tuple[Step, ...]

    @property
    def many(self) -> bool:
        """Whether the expression can select several values (it has `[*]`)."""
        return any(step.every for step in self.steps)

    def select(self, data: Any) -> list[Any]:
        """Every value the expression reaches in `data` (missing keys and indexes: none)."""
        return list(_walk(data, self.steps))

    def first(self, data: Any) -> Any:
        """The first value reached, or None."""
        return next(_walk(data, self.steps), None)


def parse_path(text: str) -> JsonPath:
    """`$.orders[0].name` → a `JsonPath`; `PathError` names what cannot be read."""
    if not text.startswith("$"):
        raise PathError(f"'{text}' must start with '$' (the whole response)")
    steps: list[Step] = []
    at = 1
    while at < len(text):
        match = _STEP.match(text, at)
        if match is None:
            raise PathError(
                f"'{text}' cannot be read from '{text[at:]}': use .name, ['name'], [0], [-1], [*] or "
                "[?key=='value']"
            )
        if match["name"] or match["quoted"]:
            steps.append(Step(name=match["name"] or match["quoted"]))
        elif match["index"] is not None:
            steps.append(Step(index=int(match["index"])))
        elif match["all"]:
            steps.append(Step(every=True))
        else:
            steps.append(Step(where=(match["key"], match["value"])))
        at = match.end()
    return JsonPath(text, tuple(steps))


def _walk(data: Any, steps: tuple[Step, ...]) -> Iterator[Any]:
    if not steps:
        if data is not None:
            yield data
        return
    step, rest = steps[0], steps[1:]
    if step.name is not None:
        if isinstance(data, dict) and step.name in data:
            yield from _walk(data[step.name], rest)
    elif step.index is not None:
        if isinstance(data, list) and -len(data) <= step.index < len(data):
            yield from _walk(data[step.index], rest)
    elif step.every:
        if isinstance(data, list):
            for item in data:
                yield from _walk(item, rest)
    elif step.where is not None and isinstance(data, list):
        key, value = step.where
        found = next((i for i in data if isinstance(i, dict) and str(i.get(key)) == value), None)
        if found is not None:
            yield from _walk(found, rest)
