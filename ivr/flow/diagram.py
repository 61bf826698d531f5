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
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from ivr.flow.groups import state_groups
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
STATE_FONT_SIZE = 13
"""Points; with the compact layout below, the shipped flow fitted to the editor's panel shows
state names at about 12 px in a 1280x800 window (tests/test_flow_diagram_browser.py measures it)."""

NO_PROBLEMS: Mapping[str, Sequence[str]] = MappingProxyType({})
NONE_COLLAPSED: AbstractSet[str] = frozenset()


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

# Every kind is a box, told apart by fill and outline: boxes of one height pack into far less
# room than circles, hexagons and houses, and room is what lets a whole flow be read at once.
_LOOK: dict[StateKind | None, tuple[str, str]] = {
    StateKind.SAY: ("rounded,filled", "#fef9c3"),
    StateKind.MENU: ("filled", "#dbeafe"),
    StateKind.GATHER: ("filled", "#cffafe"),
    StateKind.ACTION: ("filled", "#ede9fe"),
    StateKind.TRANSFER: ("filled,bold", "#fdba74"),
    StateKind.HANGUP: ("rounded,filled,bold", "#e5e7eb"),
    None: ("dashed,filled", "#ffffff"),
}
GROUP_FILL = "#f3f4f6"
"""Fill of a collapsed group's single box."""


@dataclass(frozen=True, slots=True)
class Node:
    name: str
    kind: StateKind | None
    """None: the state has no usable 'type' (or is not a mapping), so it has no ways out."""
    line: int = 0
    """Line of the state's name in the flow file (0: unknown), where a click on it leads."""
    group: str = ""
    """The part of the line it belongs to (flow/groups.py); '' for states every part shares."""
    agent: bool = False
    """0 or 'agent' reaches the flow's agent from here (said in the tooltip, not drawn: nine
    arrows into one state would take more room than the rest of a flow)."""


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
    agent: str = ""
    """The state 0 or 'agent' leads to."""

    def groups(self) -> dict[str, int]:
        """Number of states by group, groups in the order their first state is in the file."""
        sizes: dict[str, int] = {}
        for node in self.nodes:
            if node.group:
                sizes[node.group] = sizes.get(node.group, 0) + 1
        return sizes


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
    raw = doc.data.get("states") if isinstance(doc.data, dict) else None
    explicit = {
        name: state["group"]
        for name, state in (raw.items() if isinstance(raw, dict) else ())
        if isinstance(state, dict) and isinstance(state.get("group"), str) and state["group"]
    }
    groups = state_groups(draft.states, draft.start, explicit)
    nodes = []
    for name in draft.names:
        state = draft.states.get(name)
        nodes.append(
            Node(
                name,
                _KINDS[type(state)] if state is not None else None,
                doc.line(("states", name)) or 0,
                groups.get(name, ""),
                isinstance(state, MenuState | GatherState) and state.agent and bool(draft.agent),
            )
        )
    # Every menu taking the caller's own words reaches every intent: arrows without news.
    edges = [
        Edge(state.name, exit_.target, exit_.label, exit_.target not in names)
        for state in draft.states.values()
        for exit_ in targets(state)
        if exit_.target and not exit_.setting.startswith("intent ")
    ]
    return FlowGraph(draft.start, tuple(nodes), tuple(edges), draft.agent)


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
    return "state-" + _encode(name)


def group_id(group: str) -> str:
    """The SVG id of a collapsed group's node (and, with 'cluster-', of an expanded group's frame)."""
    return "group-" + _encode(group)


def to_dot(
    graph: FlowGraph,
    problems: Mapping[str, Sequence[str]] = NO_PROBLEMS,
    collapsed: AbstractSet[str] = NONE_COLLAPSED,
    shades: Mapping[str, Shade] = NO_SHADES,
) -> str:
    """Graphviz DOT for a flow graph; states named in `problems` are filled red, states in
    `shades` take its colour and note instead of their kind's.

    Left to right, the endings (hand-offs and hangups) in the last column. Each group is
    framed; a group in `collapsed` is one box instead, its arrows merged, and it is red when
    any of its states is. Arrow labels are laid out with the states (`label`, not `xlabel`):
    Graphviz places an `xlabel` after the layout wherever it fits, which on a busy flow meant
    on top of states; a `label` gets room of its own, so nothing is drawn over a name. The
    diagram is larger for it, and the pages pan and zoom rather than shrink it.
    """
    lines = [
        "digraph flow {",
        '  graph [rankdir=LR, fontname="Helvetica", fontsize=13, nodesep=0.08, ranksep=0.2, newrank=true];',
        f'  node [fontname="Helvetica", fontsize={STATE_FONT_SIZE}, shape=box, height=0.3,'
        ' margin="0.08,0.03", penwidth=1];',
        '  edge [fontname="Helvetica", fontsize=8, color="#4b5563", arrowsize=0.6];',
    ]
    states = {n.name for n in graph.nodes}
    folded = {n.name: group_id(n.group) for n in graph.nodes if n.group in collapsed}

    def drawn(name: str) -> str:
        return folded.get(name) or state_id(name)

    members: dict[str, list[Node]] = {}
    for node in graph.nodes:
        members.setdefault(node.group, []).append(node)
    for group, nodes in members.items():
        if group and group in collapsed:
            lines.append(_group_node(group, nodes, problems))
            continue
        if group:
            cluster = {"id": "cluster-" + group_id(group), "label": _escape(group)}
            lines.append(f'  subgraph "cluster_{group_id(group)}" {{')
            lines.append(f'  graph [{_attrs(cluster)}, style="rounded,dashed", color="#9ca3af"];')
        lines.extend(_state_node(node, graph.agent, problems, shades.get(node.name)) for node in nodes)
        if group:
            lines.append("  }")
    endings = [
        _quote_id(state_id(n.name))
        for n in graph.nodes
        if not n.group and n.kind in (StateKind.HANGUP, StateKind.TRANSFER)
    ]
    if endings:  # one column of endings at the far side, rather than scattered among the rest
        lines.append(f"  {{rank=sink; {'; '.join(endings)}}}")
    if graph.start:
        lines.append('  start [id="start", shape=point, width=0.15, label="", tooltip="start"];')
        start_target = drawn(graph.start) if graph.start in states else _unknown_id(graph.start)
        lines.append(f'  start -> {_quote_id(start_target)} [label="start"];')
    unknown = dict.fromkeys(
        [e.target for e in graph.edges if e.dangling]
        + ([graph.start] if graph.start and graph.start not in states else [])
    )
    for name in unknown:
        attrs = {
            "id": _unknown_id(name),
            "label": _escape(f"unknown: {name}"),
            "style": "dashed,filled",
            "color": DANGLING_COLOR,
            "fillcolor": "#fee2e2",
            "tooltip": _escape(f"'{name}' is not a state of this flow"),
        }
        lines.append(f"  {_quote_id(_unknown_id(name))} [{_attrs(attrs)}];")
    arrows: dict[tuple[str, str], list[Edge]] = {}
    for edge in graph.edges:
        ends = (drawn(edge.source), _unknown_id(edge.target) if edge.dangling else drawn(edge.target))
        if ends[0] != ends[1] or ends[0].startswith("state-"):  # a folded group's inner arrows go
            arrows.setdefault(ends, []).append(edge)
    for (source, target), edges in arrows.items():
        said = ", ".join(dict.fromkeys(e.label for e in edges if e.label))
        # an arrow to or from a folded group stands for many: its words go to the tooltip, so
        # the folded overview stays small enough to read whole
        merged = source.startswith("group-") or target.startswith("group-")
        attrs = {"tooltip": _escape(said)} if merged else {"label": _escape(said)}
        if any(e.dangling for e in edges):
            attrs |= {"color": DANGLING_COLOR, "fontcolor": DANGLING_COLOR, "style": "dashed"}
        lines.append(f"  {_quote_id(source)} -> {_quote_id(target)} [{_attrs(attrs)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _state_node(
    node: Node, agent: str, problems: Mapping[str, Sequence[str]], shade: Shade | None = None
) -> str:
    style, fill = _LOOK[node.kind]
    kind = node.kind.value if node.kind else "no type"
    tooltip = [f"{node.name} ({kind})"]
    if node.agent:
        tooltip.append(f"0 or 'agent': {agent}")
    tooltip.extend(problems.get(node.name, ()))
    if shade:
        tooltip.append(shade.note)
    attrs = {
        "id": state_id(node.name),
        "label": _escape(node.name) + r"\n" + _escape(kind),
        "style": style,
        "fillcolor": PROBLEM_FILL if node.name in problems else shade.fill if shade else fill,
        "tooltip": r"\n".join(_escape(t) for t in tooltip),
    }
    if node.kind is None:
        attrs["color"] = DANGLING_COLOR
    return f"  {_quote_id(state_id(node.name))} [{_attrs(attrs)}];"


def _group_node(group: str, nodes: Sequence[Node], problems: Mapping[str, Sequence[str]]) -> str:
    troubled = [n.name for n in nodes if n.name in problems]
    tooltip = [f"{group}: {', '.join(n.name for n in nodes)}"]
    if troubled:
        tooltip.append(f"problems in {', '.join(troubled)}")
    attrs = {
        "id": group_id(group),
        "label": _escape(group) + r"\n" + f"{len(nodes)} states",
        "shape": "folder",
        "style": "filled",
        "fillcolor": PROBLEM_FILL if troubled else GROUP_FILL,
        "tooltip": r"\n".join(_escape(t) for t in tooltip),
    }
    return f"  {_quote_id(group_id(group))} [{_attrs(attrs)}];"


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


def _encode(name: str) -> str:
    return "".join(ch if ch in _SAFE_ID else f"-{ord(ch):x}-" for ch in name)


def _unknown_id(name: str) -> str:
    return "unknown-" + _encode(name)


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
    return f'"{node_id}"'  # ids from state_id and group_id hold only [a-z0-9_-]


def _attrs(attrs: Mapping[str, str]) -> str:
    """Attribute values must already be escaped (`_escape`)."""
    return ", ".join(f'{key}="{value}"' for key, value in attrs.items())
