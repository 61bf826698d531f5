"""A real headless browser (Debian's chromium, driven by Playwright) for the console tests.

Playwright's own browser download does not work offline; the system chromium does. Where
chromium is not installed the browser tests are skipped with the reason, except in CI.

One chromium serves every browser test of a test process (starting one takes a second or
two on a busy machine); each test connects to it over the DevTools protocol and gets a
fresh context (its own cookies and storage), closed after the test.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("IVR_TEST_CHROMIUM", "/usr/bin/chromium")
AXE = Path(__file__).resolve().parent.parent / "console-assets" / "node_modules" / "axe-core" / "axe.min.js"
"""axe-core (the npm package, `npm ci` in console-assets/): the accessibility checks."""
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


STARTUP_LIMIT = 60.0
"""Seconds chromium may take to open its DevTools port on a loaded machine."""


@pytest.fixture(scope="session")
def chromium() -> Iterator[str]:
    """The DevTools address of one headless chromium for this test process."""
    if not shutil.which(CHROMIUM):
        if os.environ.get("CI") == "true":
            pytest.fail(f"chromium is not installed at {CHROMIUM}: scripts/setup installs it")
        pytest.skip(f"chromium is not installed at {CHROMIUM}")
    # chromium's helpers may still write to the profile as it exits: leftovers are not a failure
    with tempfile.TemporaryDirectory(prefix="ivr-chromium-", ignore_cleanup_errors=True) as profile:
        process = subprocess.Popen(
            [CHROMIUM, *FLAGS, "--remote-debugging-port=0", f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            yield _devtools_address(Path(profile), process)
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _devtools_address(profile: Path, process: subprocess.Popen[bytes]) -> str:
    """Chromium writes the port it chose to `DevToolsActivePort` once it listens."""
    written = profile / "DevToolsActivePort"
    deadline = time.monotonic() + STARTUP_LIMIT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"chromium exited with {process.returncode} before it opened its DevTools port")
        lines = written.read_text().split() if written.exists() else []
        if len(lines) == 2:
            return f"ws://127.0.0.1:{lines[0]}{lines[1]}"
        time.sleep(0.05)
    pytest.fail(f"chromium did not open its DevTools port within {STARTUP_LIMIT:.0f} s")


@pytest.fixture
async def browser_page(chromium: str) -> AsyncIterator[object]:
    """A fresh page in a fresh browser context (its own cookies); closed after the test."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.connect_over_cdp(chromium)
        context = await browser.new_context()
        context.set_default_timeout(30_000)  # generous: CI machines run at load 4
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        yield page
        await context.close()
        await browser.close()
        assert not errors, f"the page raised script errors: {errors}"


async def sign_in_form(page: Any, username: str, password: str) -> None:
    """Type into the console's sign-in form and send it, as a person would."""
    await page.fill("input[name=username]", username)
    await page.fill("input[name=password]", password)
    await page.click("button[type=submit]")


async def accessibility_problems(page: Any, impacts: tuple[str, ...] = ("serious", "critical")) -> list[str]:
    """axe-core's violations of these impacts on the page as it stands, one line each.

    axe is injected over DevTools (`evaluate`), which the console's Content-Security-Policy
    (`script-src 'self'`) does not govern, so the page is checked exactly as it is served."""
    if not AXE.is_file():
        pytest.fail(f"axe-core is not installed at {AXE}: scripts/setup runs npm ci in console-assets")
    await page.evaluate(AXE.read_text(encoding="utf-8"))
    results = await page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']} ({v['impact']}): {v['help']}: {', '.join(str(n['target']) for n in v['nodes'][:4])}"
        for v in results["violations"]
        if v["impact"] in impacts
    ]


async def wait_until(page: Any, expression: str) -> None:
    """Wait until a JavaScript expression is true on the page.

    Playwright's `wait_for_function` polls by evaluating the expression with `eval` inside the
    page, which the console's Content-Security-Policy (`script-src 'self'`) rightly refuses;
    `page.evaluate` goes through the DevTools protocol, which the policy does not govern."""
    async with asyncio.timeout(30):  # generous: CI machines run at load 4
        while not await page.evaluate(expression):  # noqa: ASYNC110 (the page has no event to await)
            await asyncio.sleep(0.05)
