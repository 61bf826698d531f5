"""A real headless browser (Debian's chromium, driven by Playwright) for the console tests.

Playwright's own browser download does not work offline; the system chromium does. Where
chromium is not installed the browser tests are skipped with the reason, except in CI.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from typing import Any

import pytest

CHROMIUM = os.environ.get("IVR_TEST_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture
async def browser_page() -> AsyncIterator[object]:
    """A fresh page in a fresh browser context (its own cookies); closed after the test."""
    if not shutil.which(CHROMIUM):
        if os.environ.get("CI") == "true":
            pytest.fail(f"chromium is not installed at {CHROMIUM}: scripts/setup installs it")
        pytest.skip(f"chromium is not installed at {CHROMIUM}")
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        context = await browser.new_context()
        context.set_default_timeout(10_000)
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
