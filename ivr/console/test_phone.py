"""A phone in the supervisor's page that calls the draft, not the published flow.

The draft's files come with every request, so a supervisor hears their latest edit, and
the call runs through the real `FlowEngine` and the real repository, so "order 4512"
behaves exactly as it will on the phone. No Twilio, no session store: the call's state
travels to the page and back, HMAC-signed with a key derived from the auth token, so any
instance can take the next key press and nobody can forge call variables (a verified
order) into it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from ivr.flow.engine import FlowEngine, FlowError
from ivr.flow.schema import Flow
from ivr.flow.steps import Event, Gather, Hangup, Say, Start, Transfer
from ivr.prompts import PromptCatalog
from ivr.session import CallSession
from ivr.store.base import Repository

TEST_CALLED = "+10000000000"
"""The number a test call 'dials' (never a real line)."""


class TestPhoneError(ValueError):
    """The test call cannot go on; `code` is stable, the message is for the supervisor."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class Heard:
    text: str
    """What the caller hears."""


@dataclass(frozen=True, slots=True)
class PhoneTurn:
    token: str
    """The signed call state; the page sends it back with the next input."""
    heard: tuple[Heard, ...]
    state: str
    path: tuple[str, ...]
    ended: str
    """'' while the call waits for the caller; else 'hand-off (reason)' or 'hung up (outcome)'."""
    gather: Gather | None
    """How the call waits: one key for a menu, or a number ended by `finish_on_key`."""


def phone_secret(auth_token: str) -> bytes:
    return hashlib.sha256(b"console-test-phone\0" + auth_token.encode()).digest()


class TestPhone:
    __test__ = False  # not a pytest test class

    def __init__(self, secret: bytes, repository: Repository, today: Callable[[], date]) -> None:
        self._secret = secret
        self._repository = repository
        self._today = today

    async def call(self, flow: Flow, catalog: PromptCatalog, caller: str) -> PhoneTurn:
        engine = FlowEngine(flow, catalog, self._repository, today=self._today)
        session = engine.new_session("TEST" + secrets.token_hex(15), caller, TEST_CALLED)
        return await self._advance(engine, session, Start())

    async def answer(self, flow: Flow, catalog: PromptCatalog, token: str, event: Event) -> PhoneTurn:
        session = self._open(token)
        if session.outcome or session.state not in flow.states:
            raise TestPhoneError(
                "test_call_over",
                "This test call has ended or the draft no longer has its state; call again.",
            )
        engine = FlowEngine(flow, catalog, self._repository, today=self._today)
        return await self._advance(engine, session, event)

    async def _advance(self, engine: FlowEngine, session: CallSession, event: Event) -> PhoneTurn:
        try:
            steps = await engine.handle(session, event)
        except FlowError as exc:
            raise TestPhoneError(exc.code, f"The flow stopped: {exc}") from None
        ended = ""
        for step in steps:
            if isinstance(step, Transfer):
                ended = f"hand-off ({step.reason})"
            elif isinstance(step, Hangup):
                ended = f"hung up ({session.outcome or 'caller'})"
                session.outcome = session.outcome or "hung_up"
        heard = tuple(Heard(s.text) for s in steps if isinstance(s, Say))
        gather = next((s for s in steps if isinstance(s, Gather)), None)
        return PhoneTurn(self._seal(session), heard, session.state, tuple(session.path), ended, gather)

    def _seal(self, session: CallSession) -> str:
        body = base64.urlsafe_b64encode(session.to_json().encode()).decode()
        return f"{body}.{hmac.new(self._secret, body.encode(), hashlib.sha256).hexdigest()}"

    def _open(self, token: str) -> CallSession:
        body, _, mac = token.rpartition(".")
        expected = hmac.new(self._secret, body.encode(), hashlib.sha256).hexdigest()
        if not body or not hmac.compare_digest(mac, expected):
            raise TestPhoneError("test_call_forged", "This test call's state is not one the console issued.")
        return CallSession.from_json(base64.urlsafe_b64decode(body.encode()).decode())
