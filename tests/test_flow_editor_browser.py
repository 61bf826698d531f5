"""The flow editor in a real headless browser: break, fix, change a prompt, test-call, publish, roll
back; a prompt's languages side by side, each heard in its own voice."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from ivr.flow.files import LINE_FLOW, FlowFiles
from ivr.speech import audio
from ivr.speech.audio import decode_wav
from ivr.store.accounts import Role
from ivr.testing.caller import Caller
from ivr.testing.demo_line import TODAY, load_demo_data, make_settings
from ivr.web.app import create_app
from ivr.web.keys import FLOWS
from tests.browser import sign_in_form
from tests.console import PASSWORD, add_account

NEW_RETURNS = "Returns are free for 60 days from delivery, in any condition."
OLD_RETURNS = "You can return or exchange any product within 30 days"


async def returns_answer(phone: TestClient) -> str:
    """What a new caller hears after 4 (questions) and 1 (returns), over signed webhooks."""
    caller = Caller(phone)
    await caller.dial_to_menu()
    await caller.press("4")
    answer = (await caller.press("1")).text
    await caller.hang_up()
    return answer


async def test_a_supervisor_edits_tests_publishes_and_rolls_back(browser_page: Any, tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    await load_demo_data(settings)
    server = TestServer(create_app(settings, today=lambda: TODAY), host="127.0.0.1")
    phone = TestClient(server)  # Twilio's side: signed webhooks to the same running server
    await phone.start_server()
    try:
        await add_account(server.app, "maria", Role.SUPERVISOR, display_name="Maria")
        page = browser_page
        await page.goto(str(server.make_url("/console/flows")))
        await sign_in_form(page, "maria", PASSWORD)
        await page.wait_for_url("**/console/flows/support")
        await page.wait_for_selector("text=none: the draft is valid")
        await page.wait_for_selector("#diagram svg")

        # break the YAML on a known line: the error names that line and marks it
        flow = await page.evaluate("document.querySelector('.CodeMirror').CodeMirror.getValue()")
        lines = flow.split("\n")
        bad = next(i for i, line in enumerate(lines) if "faq_returns:" in line) + 1  # 0-based: the line after
        await page.evaluate(
            "([line]) => { const cm = document.querySelector('.CodeMirror').CodeMirror;"
            " cm.replaceRange('    next: [anything_else\\n', {line, ch: 0}); }",
            [bad],
        )
        error = page.locator("#problems li.error").first
        await error.wait_for()
        message = await error.inner_text()
        reported = int(message.split("line ", 1)[1].split(":")[0].split()[0])
        assert reported in (bad + 1, bad + 2), message  # the broken line, or where YAML noticed it
        marked = await page.evaluate(
            "([line]) => !!(document.querySelector('.CodeMirror').CodeMirror.lineInfo(line).gutterMarkers"
            " || {})['problem-gutter']",
            [reported - 1],
        )
        assert marked, "the error line carries no marker in the editor's gutter"
        # fix it: the problems clear
        await page.evaluate(
            "([line]) => { const cm = document.querySelector('.CodeMirror').CodeMirror;"
            " cm.replaceRange('', {line, ch: 0}, {line: line + 1, ch: 0}); }",
            [bad],
        )
        await page.wait_for_selector("text=none: the draft is valid")

        # the highlighter reads an apostrophe inside a word as a letter, not as a string's start
        after_apostrophe = await page.evaluate(
            "() => { const cm = document.querySelector('.CodeMirror').CodeMirror;"
            " const line = cm.getValue().split('\\n').findIndex((l) => l.includes(\"hasn't arrived\"));"
            " const ch = cm.getLine(line).indexOf(\"hasn't arrived\") + 'hasn\\'t '.length;"
            " return [line, cm.getTokenTypeAt({line, ch: ch + 2})]; }"
        )
        assert after_apostrophe[0] > 0 and after_apostrophe[1] != "string", after_apostrophe

        # change the returns answer in the prompt table, found by its words
        await page.click("#tab-prompts")
        await page.fill("#prompt-search", "return or exchange")
        await page.wait_for_selector("#prompt-matches:has-text('prompts match')")
        visible = page.locator("#prompt-rows tr:visible")
        assert 1 <= await visible.count() <= 3
        assert "faq.returns" in await visible.locator("code").all_inner_texts()
        assert not await page.locator("#flow-yaml + .CodeMirror").is_visible(), "one task on screen at a time"
        text = page.locator("textarea[data-id='faq.returns']")
        await text.fill(f"[{{return_rights}} ]{NEW_RETURNS}")  # the market's rights stay first
        await text.press("Tab")  # leaving the box commits the change to the draft
        await page.wait_for_selector("text=Prompt faq.returns (en) changed in the draft.")

        # a test call in the page: 4 (questions), 1 (returns) reaches the new answer
        await page.click("#tab-phone")
        await page.click("#phone-call")
        await page.wait_for_selector("#phone-log li.bot")
        await page.click("#dialpad .key[data-key='4']")
        await page.wait_for_selector("#phone-log li.bot:has-text('press 1 for returns')")
        await page.click("#dialpad .key[data-key='1']")
        await page.wait_for_selector(f"#phone-log li.bot:has-text('{NEW_RETURNS}')")
        assert "faq_returns" in await page.locator("#phone-path").inner_text()

        # publish: the confirmation shows the diff
        await page.click("#publish")
        await page.wait_for_selector("#confirm[open]")
        diff = await page.locator("#confirm-diff").inner_text()
        assert NEW_RETURNS in diff
        assert "-      [{return_rights} ]You can return or exchange any product within 30 days" in diff
        await page.click("#confirm-yes")
        await page.wait_for_selector("text=Published version 2.")
        await page.click("#tab-versions")
        await page.wait_for_selector("#history tr[data-version='1'] button.rollback")
        assert NEW_RETURNS in await returns_answer(phone)  # the next call, no restart

        # roll back to version 1, confirming the diff
        await page.click("#history tr[data-version='1'] button.rollback")
        await page.wait_for_selector("#confirm[open]")
        assert NEW_RETURNS in await page.locator("#confirm-diff").inner_text()
        await page.click("#confirm-yes")
        await page.wait_for_selector("text=Rolled back: version 1 is published.")
        await page.wait_for_selector("#history tr[data-version='2'] button.rollback")
        answer = await returns_answer(phone)
        assert OLD_RETURNS in answer and NEW_RETURNS not in answer
    finally:
        await phone.close()


SWEDISH_GOODBYE = "  goodbye: Tack för att du ringde Acme. Hej då.\n"


async def test_a_prompt_shows_in_every_language_side_by_side_missing_ones_flagged_each_heard_in_its_voice(
    browser_page: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ivr.speech.tts")
    settings = make_settings(tmp_path, IVR_LANGUAGES="en,de,sv")
    await load_demo_data(settings)
    server = TestServer(create_app(settings, today=lambda: TODAY), host="127.0.0.1")
    await server.start_server()
    try:
        await add_account(server.app, "maria", Role.SUPERVISOR, display_name="Maria")
        # a draft whose Swedish prompts lost their goodbye (a supervisor's slip, not yet published)
        flows = server.app[FLOWS]
        draft = await flows.draft(LINE_FLOW)
        assert SWEDISH_GOODBYE in draft.files.prompts["sv"]
        prompts = {**draft.files.prompts, "sv": draft.files.prompts["sv"].replace(SWEDISH_GOODBYE, "")}
        await flows.save_draft(
            LINE_FLOW, FlowFiles(draft.files.flow, prompts), expected_revision=draft.revision, by="maria"
        )
        page = browser_page
        await page.goto(str(server.make_url("/console/flows")))
        await sign_in_form(page, "maria", PASSWORD)
        await page.click("#tab-prompts")
        await page.wait_for_selector("#prompt-rows tr[data-id='goodbye']")

        assert await page.locator("#prompt-head th").all_inner_texts() == ["Prompt", "en", "de", "sv"]
        goodbye = page.locator("#prompt-rows tr[data-id='goodbye']")
        texts = {
            lang: await goodbye.locator(f"textarea[data-lang='{lang}']").input_value()
            for lang in ("en", "de")
        }
        assert texts == {
            "en": "Thanks for calling Acme. Goodbye.",
            "de": "Danke für Ihren Anruf bei Acme. Auf Wiederhören.",
        }
        assert (
            await goodbye.locator("td.missing[data-lang='sv'] .missing-flag").inner_text() == "Missing in sv"
        )
        # only that prompt is flagged, and the problems list says why publishing would fail
        assert await page.locator("#prompt-rows td.missing").count() == 1
        problem = page.locator("#problems li.error", has_text="goodbye")
        await problem.first.wait_for(state="attached")
        await page.wait_for_selector("#tab-problems:has-text('(1 error)')")  # seen from the prompts tab
        # written in its cell, it is added to the Swedish file: nothing is missing any more
        await goodbye.locator("textarea[data-lang='sv']").fill("Tack för att du ringde. Hej då.")
        await page.click("#prompt-head")  # leaving the box commits it
        await page.wait_for_selector("text=Prompt goodbye (sv) added to the draft.")
        await page.locator("#problem-count", has_text="none: the draft is valid").wait_for(state="attached")
        assert await page.locator("#tab-problems").inner_text() == ""
        await page.wait_for_selector("#prompt-rows td.missing", state="detached")
        sv = goodbye.locator("textarea[data-lang='sv']")
        assert await sv.input_value() == "Tack för att du ringde. Hej då."
        assert await sv.get_attribute("data-missing") is None

        # Listen in each language: that language's words in that language's voice
        heard: dict[str, tuple[str, bytes]] = {}
        for lang in ("en", "de", "sv"):
            row = page.locator("#prompt-rows tr[data-id='welcome']")
            await row.locator(f"button.listen[data-lang='{lang}']").click()
            await page.wait_for_selector(f"#listen-audio[data-language='{lang}']")
            player = page.locator("#listen-audio")
            text, src = await player.get_attribute("data-text"), await player.get_attribute("src")
            assert text == await row.locator(f"textarea[data-lang='{lang}']").input_value()
            kind, body = await page.evaluate(
                "async (url) => { const r = await fetch(url); const b = await r.arrayBuffer();"
                " return [r.headers.get('content-type'), Array.from(new Uint8Array(b))]; }",
                src,
            )
            assert kind == "audio/wav"
            heard[lang] = (str(src), bytes(body))
        assert len({src for src, _ in heard.values()}) == 3
        for lang, (_, wav) in heard.items():
            samples, rate = decode_wav(wav)
            assert rate == 8000 and len(samples) / rate > 0.8 and audio.rms(samples) > 500, lang
        started = [r.getMessage() for r in caplog.records if "tts_worker_started" in r.getMessage()]
        assert any("voice gmw/de," in line for line in started), started
        assert any("voice gmq/sv," in line for line in started), started
    finally:
        await server.close()
