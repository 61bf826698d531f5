"""`ivr phone NUMBER`: a sandbox phone in the terminal, over the sandbox's phone API.

It rings when the line calls NUMBER (an agent's phone, a customer called back) and can call
the line itself (`--call`, or type `call`). One thread long-polls the phone's events and
prints them; the main thread reads what the user types and sends it:

    a           answer the ringing call          h (or Ctrl-D)   hang up
    1, 4512#    press keys                       call            call the line
    rec F.wav   send a recording for <Record>    anything else   said to the line (speech)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

KEYS = frozenset("0123456789*#")
_SHOWN = {
    "ringing": "RINGING: {text} (type a to answer)",
    "answered": "[answered{colon}{text}]",
    "say": "LINE: {text}",
    "play": "LINE: [plays {what}]",
    "listening": "    (the line listens: keys, or words)",
    "queued": "[waiting in the queue {text}]",
    "conference": "[{text}]",
    "recording": "[{text}]",
    "text": "TEXT from {text}",
    "ended": "[{text}]",
    "error": "[sandbox: {text}]",
}


class PhoneApi:
    """The phone API of one sandbox number, over plain HTTP."""

    def __init__(self, base: str, number: str) -> None:
        self.base = f"{base.rstrip('/')}/sandbox/phones/{urllib.parse.quote(number)}"

    def post(self, action: str, body: dict[str, str] | bytes, query: str = "") -> dict[str, str]:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        kind = "audio/wav" if isinstance(body, bytes) else "application/json"
        url = f"{self.base}/{action}" + (f"?{query}" if query else "")
        request = urllib.request.Request(url, data=data, headers={"Content-Type": kind})
        try:
            with urllib.request.urlopen(request, timeout=30) as reply:
                answer: dict[str, str] = json.loads(reply.read())
                return answer
        except urllib.error.HTTPError as exc:
            text = exc.read().decode()
            with contextlib.suppress(ValueError, KeyError, TypeError):
                text = json.loads(text)["error"]
            raise PhoneError(text.strip()) from None

    def events(self, after: int, *, wait: bool = True) -> list[dict[str, object]]:
        """Events after `after`; with `wait`, the sandbox holds the request until there is one."""
        url = f"{self.base}/events?after={after}" + ("" if wait else "&wait=0")
        with urllib.request.urlopen(url, timeout=40) as reply:
            found: list[dict[str, object]] = json.loads(reply.read())["events"]
            return found


class PhoneError(Exception):
    """The sandbox refused what the user asked (no such call, not ringing…)."""


def shown(event: dict[str, object]) -> str:
    text = str(event.get("text", ""))
    what = "hold music" if text == "music" else f"audio {event.get('url', '')}"
    template = _SHOWN.get(str(event["kind"]), "[{text}]")
    return "  " + template.format(text=text, what=what, colon=": " if text else "")


class TerminalPhone:
    def __init__(self, api: PhoneApi) -> None:
        self.api = api
        self.call = ""
        """The call typed keys and words go to: the latest one that rang or was placed."""
        self.ended: set[str] = set()
        self._print = threading.Lock()

    def listen(self, after: int) -> None:
        while True:
            try:
                found = self.api.events(after)
            except (urllib.error.URLError, TimeoutError, OSError):
                self.show("  [the sandbox is not answering; is the line running with IVR_TELEPHONY=sandbox?]")
                return
            for event in found:
                after = max(after, int(str(event["id"])))
                call = str(event.get("call", ""))
                if event["kind"] in ("ringing", "answered") and call:
                    self.call = call
                if event["kind"] == "ended":
                    self.ended.add(call)
                self.show(shown(event))

    def show(self, line: str) -> None:
        with self._print:
            print(line, flush=True)

    def act(self, typed: str) -> None:
        typed = typed.strip()
        if not typed:
            return
        if typed == "call":
            self.call = self.api.post("call", {})["call"]
            return
        if not self.call or self.call in self.ended:
            self.show("  [no call: type `call` to call the line, or wait for one to ring]")
            return
        if typed in ("a", "answer"):
            self.api.post("answer", {"call": self.call})
        elif typed in ("h", "hangup"):
            self.api.post("hangup", {"call": self.call})
        elif typed.startswith("rec "):
            audio = Path(typed.removeprefix("rec ").strip()).read_bytes()
            self.api.post("record", audio, query=f"call={self.call}")
        elif all(ch in KEYS for ch in typed.replace(" ", "")):
            self.api.post("keys", {"call": self.call, "keys": typed.replace(" ", "")})
        else:
            self.api.post("say", {"call": self.call, "text": typed})


def run_terminal_phone(args: argparse.Namespace) -> int:
    api = PhoneApi(args.url or "http://127.0.0.1:8080", args.number)
    phone = TerminalPhone(api)
    try:  # what happened before this phone started is history: begin after it
        after = max((int(str(event["id"])) for event in api.events(0, wait=False)), default=0)
    except (urllib.error.URLError, OSError) as exc:
        print(
            f"ivr phone: cannot reach the sandbox at {api.base}: {exc}. Is `ivr sandbox` running?",
            file=sys.stderr,
        )
        return 1
    print(f"Sandbox phone {args.number}. a answers, keys press, words speak, h hangs up, Ctrl-D quits.")
    threading.Thread(target=phone.listen, args=(after,), daemon=True).start()
    try:
        if args.call:
            phone.act("call")
        while True:
            try:
                phone.act(input())
            except PhoneError as exc:
                phone.show(f"  [sandbox: {exc}]")
            except OSError as exc:
                phone.show(f"  [{exc}]")
    except (EOFError, KeyboardInterrupt):
        if phone.call and phone.call not in phone.ended:
            with contextlib.suppress(PhoneError):
                api.post("hangup", {"call": phone.call})
        print("\n  [you hang up]")
    return 0
