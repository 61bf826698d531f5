"""Done when: a known mix of calls through the real server, then `ivr stats --json` counts it exactly."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from aiohttp.test_utils import TestClient

from ivr.agents.web import AGENT_LINE
from ivr.flow.files import LINE_FLOW, FlowFiles, compile_files
from ivr.insights.paths import main_menu
from ivr.sandbox.account import TwilioAccount
from ivr.testing.caller import PUBLIC_URL
from ivr.web.keys import FLOWS
from tests.agent_line import agent_app
from tests.insight_calls import hangs_up_at_main_menu, play_mix, resolved, stats


async def start(aiohttp_client: Callable, tmp_path: Path, twilio: TwilioAccount) -> TestClient:
    app = await agent_app(tmp_path, twilio)
    app[AGENT_LINE].tick = 0.05
    client = await aiohttp_client(app)
    twilio.deliver_to(PUBLIC_URL, str(client.make_url("")))
    return client


async def test_ivr_stats_counts_a_known_mix_of_calls_and_each_version_its_own(
    aiohttp_client: Callable, tmp_path: Path, twilio: TwilioAccount
) -> None:
    client = await start(aiohttp_client, tmp_path, twilio)
    await play_mix(client)

    flows = client.app[FLOWS]
    first = await flows.published(LINE_FLOW)
    menu = main_menu(compile_files(first.files).flow)
    assert menu is not None

    figures = stats(tmp_path)
    assert figures["calls"] == 45
    assert figures["contained"] == 20
    assert figures["containment_rate"] == round(20 / 45, 4)
    assert figures["transferred"] == 20
    assert figures["transfer_reasons"] == {"caller_asked": 15, "not_understood": 5}
    assert figures["abandoned"] == 5
    assert figures["handoff_results"] == {"answered": 15, "abandoned": 5}
    assert figures["drop_off"] == {menu: 5}, "the 5 who hung up at the main menu"
    assert figures["handed_from"] == {menu: 20}
    # 50 answers at the main menu (20 + 10 + 5 + 5 callers x 3 tries), 15 of them not understood
    assert figures["no_match_rate"][menu] == 0.3
    assert figures["understanding"][menu]["speech"] == 7 + 5 + 15, "7 spoken orders, 5 agents, 15 misheard"
    assert figures["misheard"][menu][0] == {"words": "blue elephants", "calls": 10}
    assert figures["satisfaction"] is None, "no survey ran"
    order_path = next(p for p in figures["paths"] if p["calls"] == 7)
    assert order_path["answered"] == 7 and order_path["answer_seconds"] is not None
    # a path's funnel counts the calls on that path: it opens with the path's own calls, and a
    # state every path ends in (goodbye) is not credited to each path with all of them
    for path in figures["paths"]:
        assert path["funnel"][0]["calls"] == path["calls"], path
        assert all(step["calls"] <= path["calls"] for step in path["funnel"]), path

    second = await flows.publish(
        LINE_FLOW,
        by="ann",
        files=FlowFiles(first.files.flow + "\n# shorter welcome next week\n", first.files.prompts),
    )
    assert second.number == first.number + 1
    for n in range(2):
        await resolved(client, n)
    await hangs_up_at_main_menu(client)

    assert stats(tmp_path, "--version", str(second.number))["calls"] == 3
    assert stats(tmp_path)["calls"] == 48
    compared = stats(tmp_path, "--compare", str(first.number), str(second.number))
    assert compared["versions"][str(first.number)]["calls"] == 45
    assert compared["versions"][str(second.number)]["calls"] == 3
    assert compared["versions"][str(second.number)]["contained"] == 2
    assert compared["verdict"] == "too_few_calls"
