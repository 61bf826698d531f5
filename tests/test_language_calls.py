"""The shipped line as a German or Swedish caller meets it: real server, signed webhooks, the
agent desk with the Twilio fake over HTTP.

A German caller asking for a person is queued for an agent who speaks German (a language is
a required skill on the desk), never an English-only one, and hears the queue's announcements
in their language and voice.
"""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from ivr.agents.caller_words import words_for
from ivr.agents.model import AgentStatus
from ivr.agents.queue_handoff import closed_text
from ivr.agents.web import AGENT_LINE
from ivr.hours import parse_hours
from ivr.sandbox.account import TwilioAccount
from ivr.store.accounts import Role
from ivr.testing.caller import PUBLIC_URL, Caller, Turn
from tests.agent_line import agent_app
from tests.console import add_account

NUMBERS = "+15550009999=en,+4930555010=de,+46812345=sv"
ENGLISH_AGENT = "+15550107001"
AGENTS = {"de": ("jonas", "+15550107002"), "sv": ("elin", "+15550107003")}


class Dialler(Caller):
    def __init__(self, client: TestClient, to: str) -> None:
        super().__init__(client, phone="+15550199999")
        self.to = to

    def params(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {**super().params(extra), "To": self.to}


@pytest.fixture
async def line(aiohttp_client: Callable, tmp_path: Path, twilio: TwilioAccount) -> TestClient:
    app = await agent_app(tmp_path, twilio, IVR_LANGUAGES="en,de,sv", IVR_NUMBER_LANGUAGES=NUMBERS)
    app[AGENT_LINE].tick = 0.05
    client: TestClient = await aiohttp_client(app)
    twilio.deliver_to(PUBLIC_URL, str(client.make_url("")))
    return client


async def rung(twilio: TwilioAccount) -> list[str]:
    """The phones the desk has rung, once it has rung one (generous: CI is busy)."""
    for _ in range(400):
        if calls := twilio.requests_to("/Calls.json"):
            return [str(call.get("To")) for call in calls]
        await asyncio.sleep(0.05)
    raise AssertionError("no agent was rung")


@pytest.mark.parametrize(
    ("language", "number", "asks", "hold", "queue", "voice"),
    [
        (
            "de",
            "+4930555010",
            "Ich will jemanden sprechen",
            "Einen Moment bitte",
            "Sie sind als Nächstes dran. Die Wartezeit beträgt etwa 3 Minuten.",
            ("de-DE", "Polly.Vicki"),
        ),
        (
            "sv",
            "+46812345",
            "Jag vill prata med någon",
            "Vänta kvar",
            "Du står först i kön. Beräknad väntetid är ungefär 3 minuter.",
            ("sv-SE", "Polly.Astrid"),
        ),
    ],
)
async def test_a_caller_asking_for_a_person_reaches_an_agent_who_speaks_their_language(
    line: TestClient,
    twilio: TwilioAccount,
    language: str,
    number: str,
    asks: str,
    hold: str,
    queue: str,
    voice: tuple[str, str],
) -> None:
    desk = line.app[AGENT_LINE].desk
    username, phone = AGENTS[language]
    await add_account(line.app, "alex", Role.AGENT, phone=ENGLISH_AGENT, skills=["en"])
    await add_account(line.app, username, Role.AGENT, phone=phone, skills=[language])
    await desk.set_status("alex", AgentStatus.AVAILABLE)  # free first: idle the longest

    caller = Dialler(line, number)
    await caller.dial()
    turn: Turn = await caller.say(asks)
    assert turn.text.startswith(hold), turn.text
    assert turn.handoff is not None and turn.handoff.tag == "Enqueue"
    (entry,) = await desk.store.queue.live()
    assert entry.skill == language and entry.context["language"] == language
    wait_url = turn.handoff.get("waitUrl", "")
    response = await caller.raw_post(wait_url, caller.params({"QueuePosition": "1", "QueueTime": "5"}))
    (announcement,) = ET.fromstring(await response.text()).iter("Say")
    assert (announcement.text, announcement.get("language"), announcement.get("voice")) == (queue, *voice)

    # Language-blind routing would ring alex: free for longer, so first in line.
    await desk.set_status(username, AgentStatus.AVAILABLE)
    assert await rung(twilio) == [phone]


def test_a_closed_desk_tells_a_german_or_swedish_caller_when_it_opens_in_their_language() -> None:
    weekly = dict.fromkeys(("mon", "tue", "wed", "thu", "fri"), "08:00-18:00") | {
        "sat": "closed",
        "sun": "closed",
    }
    hours = parse_hours({"timezone": "Europe/Berlin", "weekly": weekly})
    saturday = datetime(2026, 11, 28, 14, 0, tzinfo=UTC)
    assert closed_text(hours, False, saturday, words_for("de"), "de-DE") == (
        "Leider haben wir gerade geschlossen. Wir sind am Montag um 8 Uhr wieder für Sie da. "
        "Unsere Öffnungszeiten: Montag bis Freitag von 8 bis 18 Uhr. "
        "Ihre Nachricht wird aufgezeichnet und nur von unserem Kundenservice angehört. "
        "Bitte sagen Sie uns nach dem Signalton, wobei wir helfen können. Wir melden uns bei Ihnen."
    )
    assert closed_text(hours, False, saturday, words_for("sv"), "sv-SE") == (
        "Tyvärr har vi stängt just nu. Vi öppnar igen på måndag klockan 8. "
        "Våra öppettider är måndag till fredag mellan 8 och 18. "
        "Ditt meddelande spelas in, och bara vår kundtjänst lyssnar på det. "
        "Berätta efter tonen vad vi kan hjälpa dig med, så hör vi av oss."
    )


@pytest.mark.parametrize(
    ("hears_in", "summary", "take", "passed", "voice"),
    [
        (
            "en",
            "Caller: Anna Schmidt, verified, speaks German. The caller asked for an agent. "
            "Order 4 6 2 0, shipped.",
            "Press 1 to take this call, or any other key to pass.",
            "Passed. The caller goes back to the queue.",
            ("en-US", "Polly.Joanna"),
        ),
        (
            "de",
            "Anrufer: Anna Schmidt, verifiziert, spricht Deutsch. Möchte mit einem Mitarbeiter sprechen. "
            "Bestellung 4 6 2 0, versandt.",
            "Drücken Sie die 1, um den Anruf anzunehmen, oder eine andere Taste, um ihn abzugeben.",
            "Abgegeben. Der Anruf geht zurück in die Warteschlange.",
            ("de-DE", "Polly.Vicki"),
        ),
    ],
)
async def test_the_agent_hears_the_whisper_in_their_own_language_naming_the_callers(
    line: TestClient,
    twilio: TwilioAccount,
    hears_in: str,
    summary: str,
    take: str,
    passed: str,
    voice: tuple[str, str],
) -> None:
    desk = line.app[AGENT_LINE].desk
    username, phone = AGENTS["de"]  # takes German callers; hears the desk in `hears_in`
    await add_account(line.app, username, Role.AGENT, phone=phone, skills=["de"], language=hears_in)

    caller = Dialler(line, "+4930555010")
    await caller.dial()
    await caller.say("Wo bleibt mein Paket?")
    await caller.press("4620")
    await caller.press("10115")
    queued = await caller.say("Ich möchte bitte mit einem Mitarbeiter sprechen")
    assert queued.handoff is not None and queued.handoff.tag == "Enqueue"

    await desk.set_status(username, AgentStatus.AVAILABLE)
    assert await rung(twilio) == [phone]
    agent_sid = next(iter(twilio.calls))
    whisper = ET.fromstring((await twilio.answer(agent_sid)).body)
    said = [(el.text, el.get("language"), el.get("voice")) for el in whisper.iter("Say")]
    assert said == [(summary, *voice), (take, *voice)]

    gather = whisper.find("Gather")
    assert gather is not None
    answer = await twilio.post_signed(
        gather.get("action", ""), {**twilio.call_params(twilio.calls[agent_sid]), "Digits": "2"}
    )
    assert ET.fromstring(answer.body).findtext("Say") == passed


@pytest.mark.parametrize(("number", "language"), [("+4930555010", "de"), ("+46812345", "sv")])
@pytest.mark.parametrize(
    ("path", "phrase"),
    [
        ("/voice/queue/done?entry=gone", "nobody_free"),
        ("/voice/queue/wait?entry=gone", "lost_place"),
        ("/voice/queue/join?entry=gone", "sorry"),
    ],
)
async def test_a_queue_webhook_with_no_entry_speaks_the_language_of_the_number_called(
    line: TestClient, number: str, language: str, path: str, phrase: str
) -> None:
    """A replayed or stale queue webhook (the entry is gone) still answers a German or
    Swedish caller in their language, never in English."""
    caller = Dialler(line, number)
    response = await caller.raw_post(path, caller.params())
    says = list(ET.fromstring(await response.text()).iter("Say"))
    assert [say.text for say in says] == [getattr(words_for(language), phrase)]
    assert says[0].get("language") == {"de": "de-DE", "sv": "sv-SE"}[language]
