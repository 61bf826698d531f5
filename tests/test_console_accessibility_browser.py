"""Every console page, as a person at a laptop sees it: no serious or critical accessibility
violation by axe-core (injected into each page), and at 1280×800 the page's main task on the
first screen, not below a screen of configuration. A real line on the sandbox, real chromium."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from ivr.store.accounts import Role
from tests.browser import accessibility_problems, sign_in_form
from tests.console import PASSWORD, add_account
from tests.sandbox_line import sandbox_line

AGENT_PHONE = "+15550100201"
PAGES = [
    # path, the main task's element (its top must be on the first screen)
    ("/", ".landing-links"),
    ("/console/agent", "#take-next"),
    ("/console/phone", "ul.phones"),
    (f"/console/phone/{AGENT_PHONE}", "#keypad"),
    ("/console/flows", ".CodeMirror"),
    ("/console/campaigns", "section.card h2"),
    ("/console/insights", "#chart-days"),
    ("/console/deliveries", "section.dead h2"),
    ("/console/accounts", "table"),
]


@pytest.mark.timeout(600)  # ten pages, each checked by axe, on a busy machine
async def test_every_console_page_is_accessible_and_shows_its_task_first(
    browser_page: Any, tmp_path: Path
) -> None:
    page = browser_page
    shots = Path(os.environ.get("IVR_SCREENSHOT_DIR", tmp_path))
    await page.set_viewport_size({"width": 1280, "height": 800})
    async with sandbox_line(tmp_path) as server:
        await add_account(server.app, "ada", Role.ADMIN, display_name="Ada", phone=AGENT_PHONE)
        base = str(server.make_url("")).rstrip("/")
        await page.goto(f"{base}/console/login")
        assert await accessibility_problems(page) == [], "/console/login"
        await sign_in_form(page, "ada", PASSWORD)
        await page.wait_for_url("**/console/**")
        found: dict[str, list[str]] = {}
        for path, task in PAGES:
            await page.goto(base + path)
            await page.wait_for_load_state("load")
            element = page.locator(task).first
            await element.wait_for()
            box = await element.bounding_box()
            if box is None or box["y"] > 800 - 40:
                found.setdefault(path, []).append(
                    f"the main task ({task}) starts at {box} px, below the first screen"
                )
            wide = await page.evaluate("() => document.documentElement.scrollWidth")
            if wide > 1280:
                found.setdefault(path, []).append(f"{wide} px wide: it scrolls sideways at 1280")
            name = path.strip("/").replace("/", "-").replace("+", "") or "landing"
            await page.screenshot(path=str(shots / f"{name}.png"))  # what a reviewer looks at
            if problems := await accessibility_problems(page):
                found.setdefault(path, []).extend(problems)
        assert found == {}, "\n".join(
            f"{path}: {problem}" for path, problems in found.items() for problem in problems
        )
