"""Missed sentences become training phrases (the insights page's "teach" forms), over real HTTP:
the phrase lands in the draft flow and nowhere else, measured before and after, audited;
only supervisors may, only with the session's CSRF token; anything that cannot be added is
refused whole, saying why. The whole loop in a browser is tests/test_teaching_browser.py."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from aiohttp.test_utils import TestClient

from ivr.console.intent_phrases import PhraseError, add_phrase, clean
from ivr.flow.files import LINE_FLOW
from ivr.store.accounts import Role
from ivr.testing.demo_line import ROOT, TODAY, make_settings
from ivr.web.app import create_app
from ivr.web.keys import FLOWS
from tests.console import add_account, console_client, sign_in

MISSED = "my gizmo went walkabout"
"""Words no intent knows: not understood at the main menu."""

BLOCK = (
    "intents:\n  hours:\n    goto: x\n    en:\n      - open\n      - hours\n"
    "  agent:\n    goto: y\n    en: [agent]\n"
)


def test_a_phrase_goes_into_the_intents_list_and_nothing_else_changes() -> None:
    shipped = (ROOT / "flows" / "support.yaml").read_text()
    taught = add_phrase(shipped, "order_status", "en", MISSED)
    assert yaml.safe_load(taught)["intents"]["order_status"]["en"][-1] == MISSED
    changed = [line for line in taught.splitlines() if line not in shipped.splitlines()]
    # the list's last line gains the phrase, or, when that would pass the width, a comma and
    # the phrase goes on a line of its own, indented as the list is
    assert changed[-1].rstrip().endswith(f"{MISSED}]") and len(changed) <= 2
    assert len(changed[-1]) <= 110
    # a block list gets an item; a language the intent lacks gets its own line; odd text is quoted
    assert "      - when are you open\n  agent:" in add_phrase(BLOCK, "hours", "en", "when are you open")
    assert "    sv: [öppet]\n  agent:" in add_phrase(BLOCK, "hours", "sv", "öppet")
    assert yaml.safe_load(add_phrase(BLOCK, "agent", "de", "yes: bitte"))["intents"]["agent"]["de"] == [
        "yes: bitte"
    ]


@pytest.mark.parametrize(
    ("text", "intent", "said", "reason"),
    [
        (BLOCK, "returns", "send it back", "no intent 'returns'"),
        ("intents: [oops", "hours", "open", "not valid YAML"),
        ("intents:\n  hours:\n    goto: x\n    en: open\n", "hours", "open", "not a list"),
    ],
)
def test_what_cannot_be_added_is_refused_saying_why(text: str, intent: str, said: str, reason: str) -> None:
    with pytest.raises(PhraseError, match=reason):
        add_phrase(text, intent, "en", said)


def test_a_callers_words_become_one_tidy_phrase() -> None:
    assert clean("  Where's   my PARCEL?? ") == "where's my parcel"
    with pytest.raises(PhraseError):
        clean(" ?! ")
    with pytest.raises(PhraseError):
        clean("word " * 50)


@pytest.fixture
async def console(aiohttp_client: Callable, tmp_path: Path) -> TestClient:
    app = create_app(make_settings(tmp_path), today=lambda: TODAY)
    client = await console_client(aiohttp_client, app)
    await add_account(client.app, "maria", Role.SUPERVISOR)
    await add_account(client.app, "alex", Role.AGENT)
    return client


async def test_a_supervisor_adds_a_missed_sentence_to_the_draft_and_sees_what_it_changes(
    console: TestClient,
) -> None:
    token = await sign_in(console, "maria")
    published = await console.app[FLOWS].published(LINE_FLOW)
    form = {
        "csrf_token": token,
        "words": "My gizmo went walkabout?",
        "intent": "order_status",
        "language": "en",
    }
    response = await console.post("/console/insights/teach", data=form)
    page = await response.text()
    assert response.status == 200, page
    assert f"Added “<strong>{MISSED}</strong>” to <strong>order status</strong> (en) in the draft" in page
    assert 'id="heard-before">not understood' in page
    assert 'id="heard-after">order status' in page
    draft = await console.app[FLOWS].draft(LINE_FLOW)
    assert yaml.safe_load(draft.files.flow)["intents"]["order_status"]["en"][-1] == MISSED
    assert draft.files.prompts == published.files.prompts
    assert (await console.app[FLOWS].published(LINE_FLOW)).number == published.number, "callers: not yet"
    audit = await console.app[FLOWS].audit.recent(5)
    assert any(e.action == "flow.phrase_added" and e.actor == "maria" and MISSED in e.detail for e in audit)

    again = await console.post("/console/insights/teach", data=form)  # already there: refused
    assert again.status == 400
    assert "is already a phrase of order_status" in await again.text()


async def test_only_a_supervisor_with_the_sessions_token_may_teach(console: TestClient) -> None:
    form = {"words": MISSED, "intent": "order_status", "language": "en"}
    flows = console.app[FLOWS]
    before = (await flows.draft(LINE_FLOW)).files
    token = await sign_in(console, "alex")
    refused = await console.post("/console/insights/teach", data={**form, "csrf_token": token})
    assert refused.status == 403
    console.session.cookie_jar.clear()
    token = await sign_in(console, "maria")
    forged = await console.post("/console/insights/teach", data={**form, "csrf_token": "forged"})
    assert forged.status == 403
    wrong = await console.post(
        "/console/insights/teach", data={**form, "csrf_token": token, "language": "fr"}
    )
    assert wrong.status == 400
    assert "The line does not speak fr; one of en." in await wrong.text()
    assert (await flows.draft(LINE_FLOW)).files == before  # nothing refused was saved
    assert not [e for e in await flows.audit.recent(20) if e.action == "flow.phrase_added"]
