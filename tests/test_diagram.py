"""A supervisor sees their flow drawn by the real Graphviz, mistakes in red, whatever they typed."""

from __future__ import annotations

import re
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from ivr.flow.diagram import (
    DANGLING_COLOR,
    PROBLEM_FILL,
    DiagramError,
    DiagramErrorCode,
    build_graph,
    group_id,
    problems_by_state,
    render_svg,
    state_id,
    to_dot,
)
from ivr.flow.loader import FlowInvalid, parse_flow
from ivr.prompts import load_catalogs
from ivr.yamlsource import Document, load_file, load_text

pytestmark = pytest.mark.inprocess

ROOT = Path(__file__).resolve().parent.parent
CATALOGS = load_catalogs(ROOT / "prompts")
SVG = "{http://www.w3.org/2000/svg}"
XLINK_TITLE = "{http://www.w3.org/1999/xlink}title"


def doc(text: str) -> Document:
    return load_text(textwrap.dedent(text), "flow.yaml")


async def svg_of(text: str, problems: dict[str, list[str]] | None = None) -> tuple[str, ET.Element]:
    svg = await render_svg(to_dot(build_graph(doc(text)), problems or {}))
    return svg, ET.fromstring(svg)  # inlinable: no prolog, well-formed XML


def nodes(root: ET.Element) -> dict[str, ET.Element]:
    return {g.get("id", ""): g for g in root.iter(f"{SVG}g") if g.get("class") == "node"}


def texts(group: ET.Element) -> list[str]:
    return [t.text or "" for t in group.iter(f"{SVG}text")]


def tooltip(group: ET.Element) -> str:
    return next(a.get(XLINK_TITLE, "") for a in group.iter(f"{SVG}a"))


def fill(group: ET.Element) -> str:
    shape = next(e for e in group.iter() if e.tag in (f"{SVG}polygon", f"{SVG}path", f"{SVG}ellipse"))
    return shape.get("fill", "")


def edges(root: ET.Element) -> list[tuple[str, str]]:
    """(source node id -> target node id, label) of every arrow."""
    return [
        (g.findtext(f"{SVG}title") or "", " ".join(texts(g)))
        for g in root.iter(f"{SVG}g")
        if g.get("class") == "edge"
    ]


def edge_labels(root: ET.Element) -> list[str]:
    return [label for _, label in edges(root)]


async def test_the_shipped_flow_draws_every_state_and_labels_the_menu_keys() -> None:
    document = load_file(ROOT / "flows" / "support.yaml")
    svg = await render_svg(to_dot(build_graph(document)))
    assert svg.startswith("<svg") and "<?xml" not in svg and "<!DOCTYPE" not in svg
    root = ET.fromstring(svg)
    drawn = nodes(root)
    for name in document.data["states"]:
        assert state_id(name) in drawn, name
        assert texts(drawn[state_id(name)])[0] == name
    labels = edge_labels(root)
    for label in ("1 order", "2 repair", "3 warranty", "4 questions", "fail", "no input"):
        assert label in labels
    # 0 or 'agent' from every menu is said, not drawn: nine arrows into one state would crowd the rest
    assert "0 or 'agent': agent" in tooltip(drawn[state_id("main_menu")])
    for outcome in ("verified", "needs_verification", "limit_reached"):
        assert outcome in labels
    assert "start" in labels  # the arrow into the start state
    assert texts(drawn[state_id("goodbye")]) == ["goodbye", "hangup"]


Box = tuple[float, float, float, float]


def _node_box(group: ET.Element) -> Box:
    """The outline of a state's shape (its polygon's points, or its path's coordinates)."""
    shape = next(e for e in group.iter() if e.tag in (f"{SVG}polygon", f"{SVG}path"))
    raw = shape.get("points") or shape.get("d") or ""
    numbers = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", raw)]
    xs, ys = numbers[0::2], numbers[1::2]
    return min(xs), min(ys), max(xs), max(ys)


def _text_box(text: ET.Element) -> Box:
    """Where a label's letters are, about: centred on x, the baseline at y."""
    size = float(text.get("font-size", "8"))
    width = 0.5 * size * len(text.text or "")
    x, y = float(text.get("x", "0")), float(text.get("y", "0"))
    return x - width / 2, y - size * 0.75, x + width / 2, y


def _overlap(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


async def test_no_arrow_label_is_drawn_over_a_state_of_the_shipped_flow() -> None:
    """Labels placed after the layout (`xlabel`) landed on top of states' names."""
    root = ET.fromstring(await render_svg(to_dot(build_graph(load_file(ROOT / "flows" / "support.yaml")))))
    boxes = {name: _node_box(g) for name, g in nodes(root).items() if name.startswith("state-")}
    covered = [
        (text.text, name)
        for g in root.iter(f"{SVG}g")
        if g.get("class") == "edge"
        for text in g.iter(f"{SVG}text")
        for name, box in boxes.items()
        if _overlap(_text_box(text), box)
    ]
    assert covered == []


SHIPPED_GROUPS = {
    "caller_on_file": {"find_caller", "caller_order", "caller_repair"},  # named in the flow
    "order": {
        "order_number",
        "find_order",
        "ask_postal_code",
        "check_postal_code",
        "order_status",
        "order_more",
    },
    "repair": {"repair_ticket", "find_repair", "repair_not_found", "repair_status"},
    "booking": {"book_repair", "repair_how", "repair_slots", "repair_booked"},  # named in the flow
    "warranty": {"warranty_serial", "find_warranty", "warranty_not_found", "warranty_active"},
    "questions": {"faq_menu", "faq_returns", "faq_warranty", "faq_hours"},
    "guides": {"find_guide", "guide_step", "guide_solved", "guide_not_solved"},  # named in the flow
}
"""Some of each group's states (the flow grows; these are the ones each branch has always had)."""


def test_the_shipped_flow_falls_into_the_main_menus_branches_and_shares_the_rest() -> None:
    graph = build_graph(load_file(ROOT / "flows" / "support.yaml"))
    by_group: dict[str, set[str]] = {}
    for node in graph.nodes:
        by_group.setdefault(node.group, set()).add(node.name)
    shared = by_group.pop("")
    assert list(by_group) == list(SHIPPED_GROUPS) == list(graph.groups())
    for group, states in SHIPPED_GROUPS.items():
        assert states <= by_group[group], group
    # what several branches reach is nobody's: the 'anything else' menu, the agent, the endings
    assert {"welcome", "main_menu", "anything_else", "offer_agent", "lookup_limit", "goodbye"} <= shared
    assert graph.groups() == {group: len(states) for group, states in by_group.items()}


async def test_a_collapsed_group_is_one_box_with_its_arrows_merged() -> None:
    graph = build_graph(load_file(ROOT / "flows" / "support.yaml"))
    whole = ET.fromstring(await render_svg(to_dot(graph)))
    assert {g.get("id") for g in whole.iter(f"{SVG}g") if g.get("class") == "cluster"} == {
        "cluster-" + group_id(g) for g in SHIPPED_GROUPS
    }
    dot = to_dot(graph, {"faq_hours": ["line 3: broken"]}, {"order", "questions"})
    folded = ET.fromstring(await render_svg(dot))
    drawn = nodes(folded)
    sizes = graph.groups()
    assert len(drawn) == len(nodes(whole)) - sizes["order"] - sizes["questions"] + 2
    assert texts(drawn[group_id("order")]) == ["order", f"{sizes['order']} states"]
    assert not any(state_id(name) in drawn for name in SHIPPED_GROUPS["order"] | SHIPPED_GROUPS["questions"])
    assert fill(drawn[group_id("questions")]) == PROBLEM_FILL  # a problem inside shows on the folded box
    assert fill(drawn[group_id("order")]) != PROBLEM_FILL
    titles = [title for title, _ in edges(folded)]
    assert "state-main_menu->group-order" in titles
    assert "group-order->group-order" not in titles  # the group's inner arrows are folded away
    assert len(titles) == len(set(titles))  # one arrow per pair of boxes


async def test_a_state_can_name_its_own_group() -> None:
    text = (
        (ROOT / "flows" / "support.yaml")
        .read_text()
        .replace("  faq_menu:\n    type: menu\n", "  faq_menu:\n    type: menu\n    group: answers\n")
    )
    document = doc(text)
    assert parse_flow(document, CATALOGS)  # the validator accepts it
    groups = build_graph(document).groups()
    assert groups["answers"] == 1
    assert (
        groups["questions"]
        == build_graph(load_file(ROOT / "flows" / "support.yaml")).groups()["questions"] - 1
    )
    bad = text.replace("group: answers", "group: Answers!")
    with pytest.raises(FlowInvalid) as caught:
        parse_flow(doc(bad), CATALOGS)
    assert any("'group' is a name" in p.message for p in caught.value.problems)


async def test_an_arrow_to_a_missing_state_goes_to_a_red_unknown_node() -> None:
    _, root = await svg_of(
        """\
        flow: t
        start: hello
        states:
          hello:
            type: say
            prompt: welcome
            next: nowhere
        """
    )
    unknown = nodes(root)["unknown-nowhere"]
    assert texts(unknown) == ["unknown: nowhere"]
    arrow = "state-hello->unknown-nowhere"
    edge = next(g for g in root.iter(f"{SVG}g") if g.findtext(f"{SVG}title") == arrow)
    assert next(edge.iter(f"{SVG}path")).get("stroke") == DANGLING_COLOR


async def test_states_the_validator_rejects_are_red_with_its_messages_as_tooltip() -> None:
    text = """\
    flow: t
    start: menu
    agent: agent
    states:
      menu:
        type: menu
        prompt: main_menu
        options:
          - key: 1
            words: [order]
            goto: bye
          - key: 1
            words: [again]
            goto: bye
      agent:
        type: transfer
        prompt: transfer
        reason: caller_asked
        fallback: bye
      bye:
        type: hangup
        prompt: goodbye
    """
    with pytest.raises(FlowInvalid) as caught:
        parse_flow(doc(text), CATALOGS)
    _, root = await svg_of(text, problems_by_state(caught.value.problems))
    drawn = nodes(root)
    assert fill(drawn[state_id("menu")]) == PROBLEM_FILL
    assert "key 1 is used twice in this menu" in tooltip(drawn[state_id("menu")])
    assert fill(drawn[state_id("bye")]) != PROBLEM_FILL


async def test_names_typed_by_a_supervisor_cannot_break_out_of_dot_or_svg() -> None:
    evil = 'x"]; y [label="pwned"]; {<script>alert(1)</script>} \\N &amp;'
    text = f"""\
    flow: t
    start: '{evil.replace("'", "''")}'
    agent: agent
    states:
      '{evil.replace("'", "''")}':
        type: menu
        prompt: main_menu
        options:
          - key: 1
            words: ['<img src=x onerror=alert(1)> "}}']
            goto: agent
      agent:
        type: transfer
        fallback: '</svg><script>x</script>'
    """
    svg, root = await svg_of(text, {evil: ["<script>bad()</script>"]})
    assert "<script" not in svg and "<img" not in svg
    assert not list(root.iter(f"{SVG}script"))
    drawn = nodes(root)
    unknown = "unknown-" + state_id("</svg><script>x</script>").removeprefix("state-")
    assert set(drawn) == {"start", state_id(evil), "state-agent", unknown}  # no node 'y' smuggled in
    assert texts(drawn[state_id(evil)])[0] == evil  # shown exactly as typed, \N and &amp; included
    assert "<script>bad()</script>" in tooltip(drawn[state_id(evil)])
    assert '1 <img src=x onerror=alert(1)> "}, fail, no input' in edge_labels(root)  # one arrow, merged
    assert set(state_id(evil)) <= set("abcdefghijklmnopqrstuvwxyz0123456789_-")


async def test_a_half_edited_flow_still_draws_what_can_be_read() -> None:
    _, root = await svg_of(
        """\
        flow: t
        start: hello
        agent: agent
        bogus: setting
        states:
          hello:
            type: say
            prompt: welcome
            next: menu
          menu:
            type: menu
            options: not a list
            on_failure: [not, text]
          typo:
            type: sya
            next: hello
          listy: [1, 2]
          agent:
            type: transfer
        """
    )
    drawn = nodes(root)
    assert {state_id(n) for n in ("hello", "menu", "typo", "listy", "agent")} <= set(drawn)
    assert texts(drawn["state-typo"]) == ["typo", "no type"]
    # no options could be read; failure and silence fall back to the agent, as the loader would
    assert [label for title, label in edges(root) if title.startswith("state-menu->")] == ["fail, no input"]
    assert ("state-hello->state-menu", "") in edges(root)
    assert not [title for title, _ in edges(root) if title.startswith(("state-typo", "state-listy"))]


async def test_without_graphviz_the_error_says_so_with_a_stable_code(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(DiagramError) as caught:
        await render_svg("digraph { a }")
    assert caught.value.code == DiagramErrorCode.DOT_MISSING == "diagram_dot_missing"


async def test_dot_rejecting_its_input_is_a_dot_failed_error() -> None:
    with pytest.raises(DiagramError) as caught:
        await render_svg("digraph { a -> ")
    assert caught.value.code is DiagramErrorCode.DOT_FAILED
    assert "syntax error" in caught.value.detail


async def test_a_layout_taking_too_long_is_stopped() -> None:
    dot = to_dot(build_graph(load_file(ROOT / "flows" / "support.yaml")))
    with pytest.raises(DiagramError) as caught:
        await render_svg(dot, time_limit=0.001)
    assert caught.value.code is DiagramErrorCode.DOT_TIMEOUT
