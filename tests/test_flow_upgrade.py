"""A flow published by an earlier release keeps the line running after an upgrade.

The database keeps the published flow and its prompts, so after an upgrade the line runs
whatever a supervisor last published, written for the release before. This release added
an outcome to every lookup (`limit_reached`) and retired one (`find_order`'s `not_found`);
the flow shipped before those changes (kept here as it was) must still load, with warnings
for the editor, and run calls: a caller over the lookup limit reaches an agent.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ivr.flow.files import compile_files, read_files
from ivr.testing.caller import Caller
from ivr.testing.demo_line import TODAY, load_demo_data, make_settings
from ivr.web.app import create_app

BEFORE = Path(__file__).parent / "fixtures" / "before_limits"


def test_the_earlier_flow_loads_with_warnings_for_the_editor() -> None:
    compiled = compile_files(read_files(BEFORE / "flows" / "support.yaml", BEFORE / "prompts"))
    warnings = "\n".join(compiled.warnings)
    assert "state 'find_order': 'limit_reached' is not routed" in warnings
    assert "'find_order' no longer returns 'not_found'" in warnings


async def test_a_caller_over_the_limit_on_the_earlier_flow_reaches_an_agent(
    aiohttp_client: Callable, tmp_path: Path
) -> None:
    settings = make_settings(
        tmp_path, IVR_FLOW=str(BEFORE / "flows" / "support.yaml"), IVR_PROMPTS=str(BEFORE / "prompts")
    )
    await load_demo_data(settings)
    caller = Caller(await aiohttp_client(create_app(settings, today=lambda: TODAY)))
    await caller.dial_to_menu()
    await caller.press("1")
    for _ in range(5):
        found = await caller.press("4512")
        assert "has shipped with UPS" in found.text
        await caller.press("2")  # check another order
    sixth = await caller.press("4512")
    assert sixth.handoff is not None
    assert "has shipped" not in sixth.text
