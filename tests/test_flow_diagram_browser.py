"""The flow diagram in a real headless browser: the whole shipped flow readable at a glance,
zoom, pan, a click that finds the state in the YAML, groups that fold.

The screenshot it takes is kept as a test artifact (var/test-artifacts/flow-diagram.png);
docs/flow-diagram.png (shown in docs/console.md) is one of them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestServer

from ivr.store.accounts import Role
from ivr.testing.demo_line import TODAY, load_demo_data, make_settings
from ivr.web.app import create_app
from ivr.yamlsource import load_file
from tests.browser import sign_in_form, wait_until
from tests.console import PASSWORD, add_account

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "var" / "test-artifacts"
WINDOW = {"width": 1280, "height": 800}
"""A small desktop window (a 1280x800 laptop screen); wider ones only show the flow larger."""
LEGIBLE_PX = 10.0
"""Smallest font size (CSS pixels, as rendered) we call readable without zooming."""

# Where each state's name is drawn and how large, in page pixels, and the panel's box.
MEASURE = """() => {
  const panel = document.getElementById('diagram').getBoundingClientRect();
  const states = {};
  for (const node of document.querySelectorAll('#diagram g.node')) {
    const text = node.querySelector('text');
    if (!text) continue;  // the start dot
    const box = text.getBoundingClientRect();
    const size = parseFloat(text.getAttribute('font-size')) * text.getScreenCTM().a;
    states[node.id] = {name: text.textContent, left: box.left, right: box.right, top: box.top,
                       bottom: box.bottom, size, height: box.height};
  }
  return {panel: {left: panel.left, right: panel.right, top: panel.top, bottom: panel.bottom}, states};
}"""
CURSOR_LINE = "document.querySelector('.CodeMirror').CodeMirror.getCursor().line + 1"


async def measure(page: Any) -> dict[str, Any]:
    result: dict[str, Any] = await page.evaluate(MEASURE)
    return result


async def scale(page: Any) -> float:
    return float(await page.get_attribute("#diagram", "data-scale"))


async def test_the_whole_shipped_flow_is_readable_and_can_be_zoomed_panned_clicked_and_folded(
    browser_page: Any, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path)
    await load_demo_data(settings)
    server = TestServer(create_app(settings, today=lambda: TODAY), host="127.0.0.1")
    await server.start_server()
    try:
        await add_account(server.app, "maria", Role.SUPERVISOR, display_name="Maria")
        page = browser_page
        await page.set_viewport_size(WINDOW)
        await page.goto(str(server.make_url("/console/flows")))
        await sign_in_form(page, "maria", PASSWORD)
        await page.wait_for_url("**/console/flows/support")
        await page.wait_for_selector("#diagram svg g.node")
        await page.wait_for_selector("#diagram-groups button")
        await page.locator("#diagram").scroll_into_view_if_needed()

        # opened fitted: every box's name inside the panel and large enough to read; a flow
        # too large for that (the shipped one) opens with its groups folded
        shipped = load_file(ROOT / "flows" / "support.yaml").data["states"]
        seen = await measure(page)
        panel = seen["panel"]
        for box in seen["states"].values():
            assert panel["left"] <= box["left"] and box["right"] <= panel["right"], (box, panel)
            assert panel["top"] <= box["top"] and box["bottom"] <= panel["bottom"], (box, panel)
            assert box["size"] >= LEGIBLE_PX, f"{box['name']} is drawn at {box['size']:.1f} px"
        folded_names = {b["name"] for b in seen["states"].values()} - set(shipped)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        await page.locator("#diagram").screenshot(path=str(ARTIFACTS / "flow-diagram.png"))
        # every state is one click away: open the folded groups
        for group in sorted(folded_names):
            await page.click(f"#diagram-groups button[data-group='{group}']")
            await page.wait_for_selector(f"#diagram-groups button[data-group='{group}'][aria-pressed=false]")
        await wait_until(page, "!document.querySelector('#diagram g.node[id^=group-]')")
        states = (await measure(page))["states"]
        assert set(shipped) <= {s["name"] for s in states.values()}
        # opening a group pans rather than shrinks: every name still readable (it was 57 %)
        assert min(s["size"] for s in states.values()) >= LEGIBLE_PX - 0.01
        await page.click("#zoom-fit")
        fitted = await scale(page)

        # buttons zoom in and out, and Fit brings the whole flow back
        await page.click("#zoom-in")
        assert await scale(page) > fitted * 1.2
        await page.click("#zoom-fit")
        assert abs(await scale(page) - fitted) < 1e-3
        await page.click("#zoom-out")
        assert await scale(page) < fitted * 0.9
        await page.click("#zoom-fit")

        # the wheel zooms around the pointer
        await page.locator("#diagram").scroll_into_view_if_needed()
        box = await page.locator("#diagram").bounding_box()
        await page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        await page.mouse.wheel(0, -400)
        zoomed = f"Number(document.getElementById('diagram').dataset.scale) > {fitted * 1.5}"
        await wait_until(page, zoomed)

        # dragging moves the drawing with the pointer
        node = "#diagram g.node#state-main_menu text >> nth=0"
        before = await page.locator(node).bounding_box()
        x, y = box["x"] + 40, box["y"] + box["height"] - 40
        await page.mouse.move(x, y)
        await page.mouse.down()
        await page.mouse.move(x + 60, y - 50, steps=6)
        await page.mouse.up()
        after = await page.locator(node).bounding_box()
        assert abs(after["x"] - before["x"] - 60) < 2 and abs(after["y"] - before["y"] + 50) < 2
        await page.click("#zoom-fit")

        # a click on a state puts the editor's cursor on that state's line
        text = await page.evaluate("document.querySelector('.CodeMirror').CodeMirror.getValue()")
        lines = text.split("\n")
        for name in ("find_warranty", "goodbye"):
            await page.click(f"#diagram g.node#state-{name}")
            assert lines[await page.evaluate(CURSOR_LINE) - 1] == f"  {name}:"

        # folding a group draws it as one box; a click on that box opens it again
        count = len(states)
        sizes = {
            group: int(
                await page.get_attribute(f"#diagram-groups button[data-group='{group}']", "data-states")
            )
            for group in ("order", "questions")
        }
        await page.click("#diagram-groups button[data-group='order']")
        await page.wait_for_selector("#diagram g.node#group-order")
        folded = await measure(page)
        assert len(folded["states"]) == count - sizes["order"] + 1
        assert folded["states"]["group-order"]["name"] == "order"
        await page.click("#diagram-groups button[data-group='questions']")
        await page.wait_for_selector("#diagram g.node#group-questions")
        assert len((await measure(page))["states"]) == count - sizes["order"] - sizes["questions"] + 2
        await page.click("#diagram g.node#group-order")
        await page.wait_for_selector("#diagram g.node#state-order_number")
        assert len((await measure(page))["states"]) == count - sizes["questions"] + 1

        # problem states stay red, folded or not
        await page.evaluate(
            "() => { const cm = document.querySelector('.CodeMirror').CodeMirror;"
            " cm.setValue(cm.getValue().replace('prompt: faq.hours\\n    next: anything_else',"
            " 'prompt: faq.hours\\n    next: nowhere')); }"
        )
        await page.wait_for_selector("#diagram-note:has-text('faq_hours')")
        fill = "el => el.querySelector('polygon, path').getAttribute('fill')"
        assert await page.locator("#diagram g.node#group-questions").evaluate(fill) == "#f87171"
        await page.click("#zoom-fit")  # the diagram pans to keep names readable: fit it to find the group
        await page.click("#diagram g.node#group-questions")
        await page.wait_for_selector("#diagram g.node#state-faq_hours")
        assert await page.locator("#diagram g.node#state-faq_hours").evaluate(fill) == "#f87171"
        assert await page.locator("#diagram g.node#state-faq_returns").evaluate(fill) != "#f87171"
    finally:
        await server.close()
