"""A phone in the supervisor's page that calls the draft, not the published flow.

The draft's files come with every request, so a supervisor hears their latest edit, and
the call runs through the real `FlowEngine` and the real repository, so "order 4512"
behaves exactly as it will on the phone. No Twilio, no session store: the call's state
travels to the page and back, HMAC-signed with a key derived from the auth token, so any
instance can take the next key press and nobody can forge call variables (a verified
order) into it.

The test phone is not a way into customers' data:

- It calls only as a test number (`may_call_as`): a fictional number (`FICTIONAL`, as the
  demo data's are), or one listed in IVR_TEST_PHONE_NUMBERS, or no caller ID at all. And it
  sees only the records of those numbers (`TestRecords`), so a real customer's order number
  and postal code find nothing either.
- Each turn's token works once and for `TOKEN_LIFETIME`: its random id is stored when used
  (`UsedTokens`, shared by every instance), so a copied token cannot be replayed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from ivr.flow.engine import FlowEngine, FlowError
from ivr.flow.guides import GuideBook
from ivr.flow.schema import Flow
from ivr.flow.steps import Event, Gather, Hangup, Say, Start, Transfer
from ivr.prompts import PromptCatalog
from ivr.records import Order, Repair, Warranty
from ivr.session import CallSession
from ivr.store.base import Repository
from ivr.store.used_tokens import UsedTokens

TEST_CALLED = "+10000000000"
"""The number a test call 'dials' (never a real line)."""
TOKEN_LIFETIME = 15 * 60.0
"""Seconds a turn's token may wait for the supervisor's next input."""
FICTIONAL = re.compile(r"\+1(555\d{7}|[2-9]\d{2}55501\d{2})")
"""North American numbers no real customer has: area code 555, which is not assigned (the
demo data's callers, +1 555 010 0001…), and 555-0100 to 555-0199 in any area, set aside for
fiction."""


def may_call_as(caller: str, test_numbers: Collection[str]) -> bool:
    """Whether the test phone may use this caller ID, and read the records filed under it."""
    return not caller or caller in test_numbers or FICTIONAL.fullmatch(caller) is not None


class TestRecords:
    """The repository as the test phone sees it: only records of test numbers.

    A warranty belongs to its order's phone. Read-only: a test call never changes data.
    """

    __test__ = False  # not a pytest test class

    def __init__(self, repository: Repository, test_numbers: Collection[str]) -> None:
        self._repository = repository
        self._numbers = test_numbers
        self._counts: dict[tuple[date, str, str], int] = {}

    def _ours(self, phone: str) -> bool:
        return bool(phone) and may_call_as(phone, self._numbers)

    async def order(self, order_number: str) -> Order | None:
        order = await self._repository.order(order_number)
        return order if order and self._ours(order.phone) else None

    async def warranty(self, serial_number: str) -> Warranty | None:
        warranty = await self._repository.warranty(serial_number)
        return warranty if warranty and await self.order(warranty.order_number) else None

    async def repair(self, ticket_number: str) -> Repair | None:
        repair = await self._repository.repair(ticket_number)
        return repair if repair and self._ours(repair.phone) else None

    async def orders_of(self, phone: str) -> Sequence[Order]:
        return await self._repository.orders_of(phone) if self._ours(phone) else []

    async def repairs_of(self, phone: str) -> Sequence[Repair]:
        return await self._repository.repairs_of(phone) if self._ours(phone) else []

    async def upsert(self, records: Sequence[Order] | Sequence[Warranty] | Sequence[Repair]) -> int:
        raise PermissionError("the test phone's records are read-only")

    async def count(self, caller: str, kind: str, day: date, add: int = 1) -> int:
        """Look-up limits as on the line, counted here: a test call must not use up a real
        number's daily allowance (test numbers may be staff phones), nor write to the store."""
        self._counts = {key: n for key, n in self._counts.items() if key[0] == day}
        total = self._counts.get((day, caller, kind), 0) + add
        self._counts[(day, caller, kind)] = total
        return total


class TestPhoneError(ValueError):
    """The test call cannot go on; `code` is stable, the message is for the supervisor."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class DraftRun:
    """A draft the test phone calls: its flow, the prompts of the language called in, its guides."""

    flow: Flow
    catalog: PromptCatalog
    guides: GuideBook


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

    def __init__(
        self,
        secret: bytes,
        repository: Repository,
        today: Callable[[], date],
        *,
        used: UsedTokens,
        test_numbers: Collection[str] = frozenset(),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._secret = secret
        self._test_numbers = test_numbers
        self._repository = TestRecords(repository, test_numbers)
        self._today = today
        self._used = used
        self.clock = clock

    async def call(self, draft: DraftRun, caller: str) -> PhoneTurn:
        if not may_call_as(caller, self._test_numbers):
            raise TestPhoneError(
                "test_caller_not_allowed",
                f"The test phone calls only as a test number: a demo number like +15550100001, one in "
                f"IVR_TEST_PHONE_NUMBERS, or no caller ID. '{caller}' is not one of them.",
            )
        await self._used.forget_expired()
        engine = self._engine(draft)
        session = engine.new_session("TEST" + secrets.token_hex(15), caller, TEST_CALLED)
        return await self._advance(engine, session, Start())

    async def answer(self, draft: DraftRun, token: str, event: Event) -> PhoneTurn:
        session = await self._redeem(token)
        if session.outcome or session.state not in draft.flow.states:
            raise TestPhoneError(
                "test_call_over",
                "This test call has ended or the draft no longer has its state; call again.",
            )
        return await self._advance(self._engine(draft), session, event)

    def _engine(self, draft: DraftRun) -> FlowEngine:
        return FlowEngine(draft.flow, draft.catalog, self._repository, today=self._today, guides=draft.guides)

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
        sealed = {"id": secrets.token_urlsafe(16), "expires_at": self.clock() + TOKEN_LIFETIME}
        sealed["session"] = session.to_json()
        body = base64.urlsafe_b64encode(json.dumps(sealed).encode()).decode()
        return f"{body}.{hmac.new(self._secret, body.encode(), hashlib.sha256).hexdigest()}"

    async def _redeem(self, token: str) -> CallSession:
        """The call state in a token the console issued, not expired and not used before."""
        body, _, mac = token.rpartition(".")
        expected = hmac.new(self._secret, body.encode(), hashlib.sha256).hexdigest()
        if not body or not hmac.compare_digest(mac, expected):
            raise TestPhoneError("test_call_forged", "This test call's state is not one the console issued.")
        sealed: dict[str, Any] = json.loads(base64.urlsafe_b64decode(body.encode()))
        if sealed["expires_at"] < self.clock():
            raise TestPhoneError("test_call_expired", "This test call waited too long for a key; call again.")
        if not await self._used.use(sealed["id"], sealed["expires_at"]):
            raise TestPhoneError(
                "test_call_replayed",
                "This turn of the test call was already answered (another tab, or a request sent twice); "
                "call again.",
            )
        return CallSession.from_json(sealed["session"])
