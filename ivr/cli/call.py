"""`ivr call`: a phone in the terminal that plays Twilio against a running line.

It sends the same signed webhooks Twilio would (so signature checks stay on), reads
the TwiML answers, shows what a caller would hear, and takes key presses or typed
speech. A new user can try the whole line without a Twilio account or a phone number.
"""

from __future__ import annotations

import argparse
import secrets
import sys
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from twilio.request_validator import RequestValidator

from ivr.config import Settings

SPEECH_CONFIDENCE = "0.92"
DESK_QUEUE = "/voice/queue/wait"
"""The agent desk's wait URL (`ivr.agents.urls`): an `<Enqueue>` with it is our own queue."""


@dataclass
class PhoneCall:
    """One call's webhook traffic. `send` is the HTTP transport (a real one by default)."""

    public_url: str
    server_url: str
    auth_token: str
    caller: str
    called: str
    out: Callable[[str], None] = print
    call_sid: str = field(default_factory=lambda: "CA" + secrets.token_hex(16))
    account_sid: str = field(default_factory=lambda: "AC" + secrets.token_hex(16))

    def post(self, url: str, extra: dict[str, str] | None = None) -> str:
        """POST a signed Twilio-style form to an absolute URL the line gave us."""
        if url.startswith("/"):
            url = self.public_url + url
        params = {
            "CallSid": self.call_sid,
            "AccountSid": self.account_sid,
            "From": self.caller,
            "To": self.called,
            "CallStatus": "in-progress",
            "Direction": "inbound",
            "ApiVersion": "2010-04-01",
            **(extra or {}),
        }
        signature = RequestValidator(self.auth_token).compute_signature(url, params)
        target = url.replace(self.public_url, self.server_url, 1)
        request = urllib.request.Request(
            target,
            data=urllib.parse.urlencode(params).encode(),
            headers={"X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"},
        )
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.read().decode()


def _say(element: ET.Element, out: Callable[[str], None]) -> None:
    if element.tag == "Say":
        out(f"  LINE: {(element.text or '').strip()}")
    elif element.tag == "Play":
        out(f"  LINE: [plays recorded prompt {element.text}]")
    elif element.tag == "Pause":
        out("  LINE: [pause]")


def _keys(answer: str, gather: ET.Element) -> dict[str, str] | None:
    """What Twilio would post for what the caller typed: digits, or speech."""
    answer = answer.strip()
    if not answer:
        return None
    if all(ch in "0123456789*#" for ch in answer.replace(" ", "")):
        keys = answer.replace(" ", "")
        finish = gather.get("finishOnKey", "#")
        if finish and finish in keys:
            keys = keys[: keys.index(finish)]
        limit = gather.get("numDigits")
        if limit and limit.isdigit():
            keys = keys[: int(limit)]
        return {"Digits": keys} if keys else None
    if "speech" not in gather.get("input", "dtmf"):
        return None
    return {"SpeechResult": answer, "Confidence": SPEECH_CONFIDENCE}


def _wait_in_queue(
    call: PhoneCall, enqueue: ET.Element, ask: Callable[[str], str]
) -> tuple[str, dict[str, str]] | None:
    """The agent desk's queue. This phone cannot be put through to an agent (only a call the
    sandbox carries can be moved into a conference), so it hears where it stands once, may
    ask to be called back, and otherwise hangs up, telling the line as Twilio would
    (`QueueResult=hangup`), so no caller is left waiting on the desk. Returns the request to
    make next, or None once it hung up."""
    wait = ET.fromstring(call.post(enqueue.get("waitUrl", ""), {"QueuePosition": "1", "QueueTime": "0"}))
    for verb in wait.iter():
        _say(verb, call.out)
    gather = wait.find("Gather")
    choice = gather.get("action", "") if gather is not None else ""
    call.out(
        "  [you are on hold: agents see you on the desk, but only a call through the sandbox"
        " (`ivr phone NUMBER --call`) can be put through to one]"
    )
    answer = ask("  YOU (1 = call me back; Enter hangs up) > ").strip()
    done = enqueue.get("action", "")
    if answer == "1":
        choice = choice or enqueue.get("waitUrl", "").replace(DESK_QUEUE, "/voice/queue/choice")
        for verb in ET.fromstring(call.post(choice, {"Digits": "1"})).iter():
            _say(verb, call.out)
        return done, {"QueueResult": "leave"}
    call.out("  [you hang up]")
    call.post(done, {"QueueResult": "hangup"})
    call.post("/voice/status", {"CallStatus": "completed"})
    return None


def play_call(call: PhoneCall, ask: Callable[[str], str]) -> str:
    """Walk the call until it ends; returns how it ended ('hangup' or 'caller hung up')."""
    twiml = call.post("/voice")
    while True:
        next_request: tuple[str, dict[str, str]] | None = None
        for verb in ET.fromstring(twiml):
            if verb.tag in ("Say", "Play", "Pause"):
                _say(verb, call.out)
            elif verb.tag == "Gather":
                for prompt in verb:
                    _say(prompt, call.out)
                hint = "a key" if verb.get("numDigits") == "1" else "digits, then #"
                answer = ask(f"  YOU ({hint}, or words; Enter = stay silent) > ")
                sent = _keys(answer, verb)
                if sent is not None:
                    next_request = (verb.get("action", ""), sent)
                    break
            elif verb.tag == "Redirect":
                next_request = ((verb.text or "").strip(), {})
                break
            elif verb.tag == "Enqueue" and DESK_QUEUE in verb.get("waitUrl", ""):
                queued = _wait_in_queue(call, verb, ask)
                if queued is None:
                    return "caller hung up"
                next_request = queued
                break
            elif verb.tag in ("Dial", "Enqueue"):
                target = "".join(verb.itertext()).strip()
                kind = "queue" if verb.tag == "Enqueue" else "agent at"
                call.out(f"  LINE: [transfers you to the {kind} {target}]")
                picked = ask("  (pretend) does an agent answer? [y/N] > ").strip().lower() == "y"
                result = (
                    {"DialCallStatus": "completed" if picked else "no-answer"}
                    if verb.tag == "Dial"
                    else {"QueueResult": "bridged" if picked else "leave"}
                )
                if picked:
                    call.out("  [you talk with the agent, then hang up]")
                next_request = (verb.get("action", ""), result)
                break
            elif verb.tag == "Connect":
                call.out(
                    "  [this line runs in local speech mode (IVR_SPEECH=local): the call went to a media "
                    "stream, which needs real audio. The terminal phone speaks TwiML only: run the "
                    "server with IVR_SPEECH=twilio to try the line here.]"
                )
                call.post("/voice/status", {"CallStatus": "completed"})
                return "stream"
            elif verb.tag == "Hangup":
                call.post("/voice/status", {"CallStatus": "completed"})
                call.out("  [the line hangs up]")
                return "hangup"
        if next_request is None:
            call.post("/voice/status", {"CallStatus": "completed"})
            call.out("  [the line went quiet: call ended]")
            return "dead air"
        twiml = call.post(*next_request)


def run_phone(args: argparse.Namespace) -> int:
    settings = Settings.from_env(serving=False, default_public_url=args.url or "")
    token = settings.auth_token
    if not token:
        print("ivr call: set TWILIO_AUTH_TOKEN to the same secret the server uses.", file=sys.stderr)
        return 2
    public = settings.public_url
    call = PhoneCall(
        public_url=public,
        server_url=(args.url or public).rstrip("/"),
        auth_token=token,
        caller=args.caller,
        called=args.to,
    )
    print(f"Calling {args.to} as {args.caller} (call {call.call_sid}). Ctrl-D hangs up.")

    def ask(prompt: str) -> str:
        return input(prompt)

    try:
        play_call(call, ask)
    except (EOFError, KeyboardInterrupt):
        print("\n  [you hang up]")
        call.post("/voice/status", {"CallStatus": "completed"})
    except urllib.error.HTTPError as exc:
        print(f"ivr call: the line answered {exc.code}: {exc.read().decode().strip()}", file=sys.stderr)
        return 1
    except urllib.error.URLError as exc:
        print(
            f"ivr call: cannot reach {call.server_url}: {exc.reason}. Is `ivr serve` running?",
            file=sys.stderr,
        )
        return 1
    print(f"See the record: ivr calls show {call.call_sid}")
    return 0


def add_parser(sub: Any) -> None:
    call = sub.add_parser("call", help="call a running line from this terminal (keys or typed speech)")
    call.add_argument(
        "--url", default="", help="server base URL (default: PUBLIC_URL or http://127.0.0.1:8080)"
    )
    call.add_argument("--from", dest="caller", default="+15550100001", help="your caller ID (E.164)")
    call.add_argument("--to", default="+15550009999", help="the support number dialled")
    call.set_defaults(run=run_phone)
