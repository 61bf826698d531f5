"""Draw a call flow as a diagram of its states and ways out, problems in red.

Supervisors look at the flow they are editing, which often does not validate yet. So the
graph comes from the loader's own lenient reading (`read_draft`) and the same `targets`
the validator checks: what is drawn is what the engine would run, and a mistake (a state
with no type, an arrow to a state that does not exist) shows up instead of hiding the rest.

State names and labels are typed by supervisors, so every string that reaches DOT is
escaped, and node ids in the SVG use an encoding safe in HTML ids and CSS selectors.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from ivr.flow.loader import Problem, read_draft, targets
from ivr.flow.schema import (
    ActionState,
    GatherState,
    HangupState,
    MenuState,
    SayState,
    StateKind,
    TransferState,
)
from ivr.yamlsource import Document

RENDER_TIMEOUT = 5.0
"""Seconds Graphviz gets to lay out one diagram; a flow of a hundred states takes well under one."""

PROBLEM_FILL = "#f87171"
"""Fill of a state the validator found problems in."""
DANGLING_COLOR = "#dc2626"
"""Outline of an arrow to a state that does not exist, and of its 'unknown' node."""

NO_PROBLEMS: Mapping[str, Sequence[str]] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Shade:
    """A state coloured by a figure (the insights' drop-off), with the figure in its tooltip."""

    fill: str
    note: str


NO_SHADES: Mapping[str, Shade] = MappingProxyType({})

_SAFE_ID = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")

_KINDS: dict[type, StateKind] = {
    SayState: StateKind.SAY,
    MenuState: StateKind.MENU,
    GatherState: StateKind.GATHER,
    ActionState: StateKind.ACTION,
    TransferState: StateKind.TRANSFER,
    HangupState: StateKind.HANGUP,
}

# shape, style, fill per kind: a hangup is an ending (double circle), a transfer a person
_LOOK: dict[StateKind | None, tuple[str, str, str]] = {
    StateKind.SAY: ("box", "rounded,filled", "#fef9c3"),
    StateKind.MENU: ("box", "filled", "#dbeafe"),
    StateKind.GATHER: ("parallelogram", "filled", "#cffafe"),
    StateKind.ACTION: ("hexagon", "filled", "#ede9fe"),
    StateKind.TRANSFER: ("house", "filled", "#fdba74"),
    StateKind.HANGUP: ("doublecircle", "filled", "#e5e7eb"),
    None: ("box", "dashed,filled", "#ffffff"),
}


@dataclass(frozen=True, slots=True)
class Node:
    name: str
    kind: StateKind | None
    """None: the state has no usable 'type' (or is not a mapping), so it has no ways out."""


@dataclass(frozen=True, slots=True)
class Edge:
    source: str
    target: str
    label: str
    """Short words for the arrow: '1 order', 'fail', 'no input', an outcome; '' for plain 'next'."""
    dangling: bool
    """The target is not a state of the flow."""


@dataclass(frozen=True, slots=True)
class FlowGraph:
    start: str
    """The state a call starts in ('' when the flow does not say)."""
    nodes: tuple[Node, ...]
    """Every state in the file, in file order."""
    edges: tuple[Edge, ...]


class DiagramErrorCode(StrEnum):
    """Stable codes for logs and the supervisor console; never reword them."""

    DOT_MISSING = "diagram_dot_missing"
    """Graphviz's `dot` is not installed (apt-get install graphviz)."""
    DOT_FAILED = "diagram_dot_failed"
    """`dot` exited with an error."""
    DOT_TIMEOUT = "diagram_dot_timeout"
    """`dot` took longer than the time allowed and was stopped."""


class DiagramError(Exception):
    """The diagram could not be drawn; ``code`` is a stable :class:`DiagramErrorCode`."""

    def __init__(self, code: DiagramErrorCode, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else str(code))
        self.code = code
        self.detail = detail
        """Human-readable context for logs; may change between versions."""


def build_graph(doc: Document) -> FlowGraph:
    """The states and ways out of a flow document, valid or not."""
    draft = read_draft(doc, {})
    names = set(draft.names)
    nodes = tuple(
        Node(name, _KINDS[type(draft.states[name])] if name in draft.states else None) for name in draft.names
    )
    edges: list[Edge] = []
    for state in draft.states.values():
        for exit_ in targets(state):
            if exit_.target:
                edges.append(Edge(state.name, exit_.target, exit_.label, exit_.target not in names))
        # 0 or 'agent' reaches the flow's agent from any waiting state that allows it (engine.py)
        if isinstance(state, MenuState | GatherState) and state.agent and draft.agent:
            edges.append(Edge(state.name, draft.agent, "0 agent", draft.agent not in names))
    return FlowGraph(draft.start, nodes, tuple(edges))


def problems_by_state(problems: Iterable[Problem]) -> dict[str, list[str]]:
    """The validator's problems grouped by state, for `to_dot` (flow-wide ones are left out)."""
    out: dict[str, list[str]] = {}
    for p in problems:
        if p.state is not None:
            out.setdefault(p.state, []).append(f"line {p.line}: {p.message}" if p.line else p.message)
    return out


def state_id(name: str) -> str:
    """The SVG id of a state's node: 'state-' and the name, other characters as -hex-.

    Injective, and safe as an HTML id and in a CSS selector, whatever the name holds.
    """
    return "state-" + "".join(ch if ch in _SAFE_ID else f"-{ord(ch):x}-" for ch in name)


def to_dot(
    graph: FlowGraph,
    problems: Mapping[str, Sequence[str]] = NO_PROBLEMS,
    shades: Mapping[str, Shade] = NO_SHADES,
) -> str:
    """Graphviz DOT for a flow graph; states named in `problems` are filled red, states in
    `shades` take its colour and note instead of their kind's."""
    lines = [
        "digraph flow {",
        '  graph [rankdir=TB, fontname="Helvetica", nodesep=0.4, ranksep=0.5];',
        '  node [fontname="Helvetica", fontsize=11, penwidth=1];',
        '  edge [fontname="Helvetica", fontsize=9, color="#4b5563"];',
    ]
    states = {n.name for n in graph.nodes}
    for node in graph.nodes:
        shape, style, fill = _LOOK[node.kind]
        kind = node.kind.value if node.kind else "no type"
        shade = shades.get(node.name)
        tooltip = [f"{node.name} ({kind})", *problems.get(node.name, ()), *([shade.note] if shade else [])]
        attrs = {
            "id": state_id(node.name),
            "label": _escape(node.name) + r"\n" + _escape(kind),
            "shape": shape,
            "style": style,
            "fillcolor": PROBLEM_FILL if node.name in problems else shade.fill if shade else fill,
            "tooltip": r"\n".join(_escape(t) for t in tooltip),
        }
        if node.name == graph.start:
            attrs["penwidth"] = "2.5"
        lines.append(f"  {_quote_id(state_id(node.name))} [{_attrs(attrs)}];")
    if graph.start:
        lines.append('  start [id="start", shape=point, width=0.2, label="", tooltip="start"];')
        start_target = state_id(graph.start) if graph.start in states else _unknown_id(graph.start)
        lines.append(f'  start -> {_quote_id(start_target)} [label="start"];')
    unknown = dict.fromkeys(
        [e.target for e in graph.edges if e.dangling]
        + ([graph.start] if graph.start and graph.start not in states else [])
    )
    for name in unknown:
        attrs = {
            "id": _unknown_id(name),
            "label": _escape(f"unknown: {name}"),
            "shape": "box",
            "style": "dashed,filled",
            "color": DANGLING_COLOR,
            "fillcolor": "#fee2e2",
            "tooltip": _escape(f"'{name}' is not a state of this flow"),
        }
        lines.append(f"  {_quote_id(_unknown_id(name))} [{_attrs(attrs)}];")
    for edge in graph.edges:
        target = _unknown_id(edge.target) if edge.dangling else state_id(edge.target)
        attrs = {"label": _escape(edge.label)}
        if edge.dangling:
            attrs |= {"color": DANGLING_COLOR, "fontcolor": DANGLING_COLOR, "style": "dashed"}
        lines.append(f"  {_quote_id(state_id(edge.source))} -> {_quote_id(target)} [{_attrs(attrs)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


async def render_svg(dot: str, *, time_limit: float = RENDER_TIMEOUT) -> str:
    """Lay out DOT with Graphviz into an SVG fit to inline in an HTML page (no prolog).

    `dot` runs as a subprocess, so the event loop keeps serving calls meanwhile.
    """
    try:
        proc = await asyncio.create_subprocess_exec(
            "dot",
            "-Tsvg",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except FileNotFoundError:
        raise DiagramError(DiagramErrorCode.DOT_MISSING, "Graphviz 'dot' is not on PATH") from None
    try:
        async with asyncio.timeout(time_limit):
            out, err = await proc.communicate(dot.encode("utf-8"))
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise DiagramError(DiagramErrorCode.DOT_TIMEOUT, f"no diagram after {time_limit:g} s") from None
    if proc.returncode != 0:
        detail = err.decode("utf-8", "replace").strip()
        raise DiagramError(DiagramErrorCode.DOT_FAILED, f"exit {proc.returncode}: {detail}")
    svg = out.decode("utf-8")
    start = svg.find("<svg")
    if start < 0:
        raise DiagramError(DiagramErrorCode.DOT_FAILED, "dot wrote no <svg> element")
    return svg[start:]


def _unknown_id(name: str) -> str:
    return "unknown-" + state_id(name).removeprefix("state-")


def _escape(text: str) -> str:
    r"""Text for a DOT quoted string shown as is.

    Backslash starts DOT escapes (\N, \G, \l) and '&' HTML entities, so both are
    neutralised; quotes are escaped and line breaks kept as DOT's own \n.
    """
    return (
        text.replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("&", "&amp;")
        .replace("\r\n", "\n")
        .replace("\r", "\n")
        .replace("\n", "\\n")
    )


def _quote_id(node_id: str) -> str:
    return f'"{node_id}"'  # ids from state_id hold only [a-z0-9_-]


def _attrs(attrs: Mapping[str, str]) -> str:
    """Attribute values must already be escaped (`_escape`)."""
    return ", ".join(f'{key}="{value}"' for key, value in attrs.items())
