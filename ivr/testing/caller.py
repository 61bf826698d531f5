"""A test caller: plays Twilio against the real server with signed webhooks.

Every answer is checked for what a caller must never meet: a non-TwiML reply, an
error status, or dead air (TwiML that neither waits for the caller with a silence
fallback, nor hands off, nor hangs up).
"""

from __future__ import annotations

import secrets
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient
from twilio.request_validator import RequestValidator

from ivr.line import stream_url

TOKEN = "test-auth-token"
PUBLIC_URL = "https://support.example.test"
VERIFIED_PHONE = "+15550100001"  # owns demo orders 4512 and 4513
STRANGER_PHONE = "+15550199999"


@dataclass
class Turn:
    twiml: str
    root: ET.Element

    @property
    def heard(self) -> list[str]:
        """Everything spoken, in order, including prompts inside <Gather>."""
        return [(el.text or "").strip() for el in self.root.iter() if el.tag in ("Say", "Play")]

    @property
    def text(self) -> str:
        return " ".join(self.heard)

    @property
    def gather(self) -> ET.Element | None:
        return self.root.find("Gather")

    @property
    def redirect(self) -> str | None:
        return self.root.findtext("Redirect")

    @property
    def handoff(self) -> ET.Element | None:
        return self.root.find("Dial") if self.root.find("Dial") is not None else self.root.find("Enqueue")

    @property
    def hung_up(self) -> bool:
        return self.root.find("Hangup") is not None


def check_no_dead_air(root: ET.Element) -> None:
    verbs = [el.tag for el in root]
    assert verbs, "empty TwiML: the caller would hear dead air"
    last = verbs[-1]
    if last == "Redirect":
        # A question's silence fallback, or a hand-off reported at once (the line is closed).
        reported = "transfer=1" in (root[-1].text or "")
        assert "Gather" in verbs or reported, f"redirect without a question: {verbs}"
    else:
        # <Connect><Stream>: the media stream carries the call from here.
        assert last in ("Hangup", "Dial", "Enqueue", "Connect"), f"TwiML ends in {last}: dead air ({verbs})"


def sign(url: str, params: dict[str, str], token: str = TOKEN) -> str:
    return RequestValidator(token).compute_signature(url, params)


def stream_headers(public_url: str = PUBLIC_URL, token: str = TOKEN) -> dict[str, str]:
    """The signature Twilio puts on a media stream's websocket handshake."""
    return {"X-Twilio-Signature": sign(stream_url(public_url), {}, token)}


class Caller:
    def __init__(self, client: TestClient, phone: str = VERIFIED_PHONE, call_sid: str | None = None) -> None:
        self.client = client
        self.phone = phone
        self.call_sid = call_sid or "CA" + secrets.token_hex(16)
        self.last: Turn | None = None

    def params(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {
            "CallSid": self.call_sid,
            "AccountSid": "AC" + "0" * 32,
            "From": self.phone,
            "To": "+15550009999",
            "CallStatus": "in-progress",
            "Direction": "inbound",
            **(extra or {}),
        }

    async def raw_post(
        self, url: str, params: dict[str, str], signature: str | None = None
    ) -> ClientResponse:
        if url.startswith("/"):
            url = PUBLIC_URL + url
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        headers["X-Twilio-Signature"] = sign(url, params) if signature is None else signature
        return await self.client.post(path, data=urlencode(params), headers=headers)

    async def post(self, url: str, extra: dict[str, str] | None = None) -> Turn:
        response = await self.raw_post(url, self.params(extra))
        body = await response.text()
        assert response.status == 200, f"{response.status}: {body}"
        assert response.content_type == "text/xml", response.content_type
        root = ET.fromstring(body)
        assert root.tag == "Response"
        check_no_dead_air(root)
        self.last = Turn(body, root)
        return self.last

    async def dial(self) -> Turn:
        return await self.post("/voice")

    async def dial_to_menu(self) -> Turn:
        """Dial and, when the line offers an order or repair on file, say no, so the call
        waits at the main menu; returns the first answer (the welcome)."""
        welcome = await self.dial()
        hints = welcome.gather.get("hints", "").split(", ") if welcome.gather is not None else []
        if "yes" in hints:  # "Are you calling about order …? Press 1 or say yes." (also as audio)
            await self.say("no")
        return welcome

    def _action(self) -> str:
        assert self.last is not None and self.last.gather is not None, "the line is not asking anything"
        return self.last.gather.get("action", "")

    async def press(self, keys: str) -> Turn:
        return await self.post(self._action(), {"Digits": keys})

    async def say(self, words: str) -> Turn:
        return await self.post(self._action(), {"SpeechResult": words, "Confidence": "0.9"})

    async def silence(self) -> Turn:
        assert self.last is not None and self.last.redirect, "no silence fallback in the last answer"
        return await self.post(self.last.redirect)

    async def transfer_ends(self, status: str) -> Turn:
        assert self.last is not None and self.last.handoff is not None
        key = "DialCallStatus" if self.last.handoff.tag == "Dial" else "QueueResult"
        return await self.post(self.last.handoff.get("action", ""), {key: status})

    async def hang_up(self, status: str = "completed") -> None:
        response = await self.raw_post("/voice/status", self.params({"CallStatus": status}))
        assert response.status == 204
