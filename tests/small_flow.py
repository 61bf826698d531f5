"""A small flow with every kind of waiting state, and the engine and versions that run it.

Shared by the tests of option matching, the compiled machine and the media-stream harness:
small enough to read at a glance, using the real prompt catalogue, needing no database
(it has no actions, so the repository is never asked).
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from ivr.flow.engine import FlowEngine
from ivr.flow.loader import parse_flow
from ivr.flow.schema import Flow
from ivr.prompts import load_catalogs
from ivr.records import Order, Repair, Warranty
from ivr.session import CallSession
from ivr.step_twiml import Voice
from ivr.versions.library import LiveFlow
from ivr.yamlsource import load_text

ROOT = Path(__file__).resolve().parent.parent
CATALOGS = load_catalogs(ROOT / "prompts")
PROMPTS = CATALOGS["en"]

SMALL_FLOW = """\
flow: small
start: menu
agent: agent
states:
  menu:
    type: menu
    prompt: main_menu
    retries: 1
    options:
      - key: 1
        words: [order status, order]
        goto: ask
      - key: 2
        words: [repair]
        goto: bye
      - key: "#"
        words: [something else]
        goto: more
  ask:
    type: gather
    prompt: ask_order_number
    save_as: order_number
    min_digits: 4
    max_digits: 8
    next: bye
  more:
    type: say
    prompt: anything_else
    next: bye
  agent:
    type: transfer
    prompt: transfer
    reason: caller_asked
    fallback: bye
  bye:
    type: hangup
    prompt: goodbye
"""


def small_flow(text: str = SMALL_FLOW) -> Flow:
    """The flow above (or a variant of it), validated as the line validates every flow."""
    flow, _ = parse_flow(load_text(textwrap.dedent(text), "small.yaml"), CATALOGS)
    return flow


def said(prompt_id: str) -> str:
    """What the caller hears for a prompt id of the catalogue (no variables)."""
    return PROMPTS.render(prompt_id, {}, date(2026, 12, 1))


class NoRecords:
    """A repository for flows without actions: any lookup is a bug in the test."""

    async def order(self, order_number: str) -> Order | None:
        raise AssertionError("the small flow looks nothing up")

    async def warranty(self, serial_number: str) -> Warranty | None:
        raise AssertionError("the small flow looks nothing up")

    async def repair(self, ticket_number: str) -> Repair | None:
        raise AssertionError("the small flow looks nothing up")

    async def orders_of(self, phone: str) -> list[Order]:
        raise AssertionError("the small flow looks nothing up")

    async def repairs_of(self, phone: str) -> list[Repair]:
        raise AssertionError("the small flow looks nothing up")

    async def upsert(self, records: Sequence[Order] | Sequence[Warranty] | Sequence[Repair]) -> int:
        raise AssertionError("the small flow imports nothing")

    async def count(self, caller: str, kind: str, day: date, add: int = 1) -> int:
        raise AssertionError("the small flow looks nothing up, so counts nothing")


def small_engine(text: str = SMALL_FLOW) -> FlowEngine:
    return FlowEngine(small_flow(text), PROMPTS, NoRecords(), clock=lambda: 1000.0)


class OneVersion:
    """`Flows` with a single published version: every call, old or new, gets it."""

    def __init__(self, engine: FlowEngine) -> None:
        self.live = LiveFlow(version=1, engine=engine, voice=Voice(), apology=said("system_error"))

    async def current(self) -> LiveFlow:
        return self.live

    async def for_session(self, session: CallSession) -> LiveFlow:
        return self.live

    def latest(self) -> LiveFlow:
        return self.live
