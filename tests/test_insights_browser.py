"""The insights page in a real headless browser, after the issue's known mix of calls.

A screenshot of the page is saved to test-output/insights.png for a person to look at.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from ivr.agents.web import AGENT_LINE
from ivr.sandbox.account import TwilioAccount
from ivr.store.accounts import Role
from ivr.testing.caller import PUBLIC_URL
from ivr.testing.demo_line import ROOT
from tests.agent_line import agent_app
from tests.browser import sign_in_form
from tests.console import PASSWORD, add_account
from tests.insight_calls import play_mix

SCREENSHOT = ROOT / "test-output" / "insights.png"


async def test_a_supervisor_sees_the_figures_of_a_known_mix_of_calls(
    browser_page: Any, tmp_path: Path, twilio: TwilioAccount
) -> None:
    app = await agent_app(tmp_path, twilio)
    app[AGENT_LINE].tick = 0.05
    server = TestServer(app, host="127.0.0.1")
    phone = TestClient(server)  # Twilio's side: signed webhooks to the same running server
    await phone.start_server()
    twilio.deliver_to(PUBLIC_URL, str(server.make_url("")))
    try:
        await play_mix(phone)
        await add_account(server.app, "maria", Role.SUPERVISOR, display_name="Maria")
        page = browser_page
        await page.set_viewport_size({"width": 1400, "height": 900})
        await page.goto(str(server.make_url("/console/insights")))
        await sign_in_form(page, "maria", PASSWORD)
        await page.wait_for_url("**/console/insights**")
        await page.wait_for_selector("body[data-charts-ready=yes]")

        assert await page.inner_text("#calls") == "45"
        assert await page.inner_text("#contained") == "20"
        assert await page.inner_text("#containment-rate") == "44.4%"
        assert await page.inner_text("#transferred") == "20"
        assert await page.inner_text("#abandoned") == "5"
        assert await page.inner_text("#satisfaction") == "no survey ran"
        reasons = await page.locator("#transfer-reasons tbody tr").all_inner_texts()
        assert sorted(r.replace("\t", " | ") for r in reasons) == [
            "asked for a person | 15",
            "not understood | 5",
        ]
        results = await page.locator("#handoff-results tbody tr").all_inner_texts()
        assert sorted(r.replace("\t", " | ") for r in results) == ["an agent answered | 15", "hung up | 5"]
        dropped = await page.locator("#states tbody tr td.dropped").all_inner_texts()
        assert sorted(dropped, reverse=True)[:2] == ["5", "0"], "one state lost the 5 who hung up"
        assert await page.inner_text("#states tr[data-state=main_menu] td.dropped") == "5"
        assert "15 (30.0%)" in await page.inner_text("#understanding tr[data-state=main_menu] td.no-match")
        assert "blue elephants" in await page.inner_text("#misheard")
        # states are named by what callers hear there, not by their ids
        menu = await page.inner_text("#states tr[data-state=main_menu] td:first-child")
        assert menu == "main menu · “Tell me what you need, or press 1…”", menu
        assert "_" not in await page.inner_text("#states tbody") + await page.inner_text("#paths tbody")

        # the diagram shades the main menu (most lost) darker than a state nobody left from
        menu_fill = await page.get_attribute("#dropoff-diagram #state-main_menu polygon", "fill")
        order_fill = await page.get_attribute(
            "#dropoff-diagram #state-order_status path, #dropoff-diagram #state-order_status polygon", "fill"
        )
        assert menu_fill and order_fill and menu_fill.startswith("#ff") and order_fill == "#ffffff"
        assert menu_fill < order_fill, (menu_fill, order_fill)
        # names readable at once (the whole flow fitted was about 8 px), and the buttons zoom
        await page.wait_for_selector("#dropoff-diagram[data-ready=yes]")
        smallest = await page.evaluate(
            "() => Math.min(...[...document.querySelectorAll('#dropoff-diagram g.node text')]"
            ".map((t) => parseFloat(t.getAttribute('font-size')) * t.getScreenCTM().a))"
        )
        assert smallest >= 9.99, smallest
        opened = float(await page.get_attribute("#dropoff-diagram", "data-scale") or 0)
        await page.click("#dropoff-in")
        assert float(await page.get_attribute("#dropoff-diagram", "data-scale") or 0) > opened * 1.2
        assert await page.locator("canvas#chart-days").count() == 1
        # the funnel labels every bar (a fixed-height chart showed 6 of about 12 labels)
        steps, ticks = await page.evaluate(
            "() => { const c = Chart.getChart(document.getElementById('chart-funnel'));"
            " return [c.data.labels.length, c.scales.y.ticks.length]; }"
        )
        assert steps > 6 and ticks == steps, (steps, ticks)

        csv = await page.evaluate(
            "fetch(document.querySelector('#transfer-reasons').closest('section')"
            ".querySelector('a.csv').href).then(r => r.text())"
        )
        assert csv.splitlines() == ["reason,calls", "caller_asked,15", "not_understood,5"]

        SCREENSHOT.parent.mkdir(exist_ok=True)
        await page.screenshot(path=str(SCREENSHOT), full_page=True)
        print(f"screenshot: {SCREENSHOT}")
    finally:
        await phone.close()
