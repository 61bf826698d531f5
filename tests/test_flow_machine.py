"""The compiled state machine: where each trigger takes a call, and what it counts on the way.

One machine is shared by every call (the session is the model of each trigger), so these
tests fire triggers on two sessions of the same machine, as two concurrent calls would.
"""

from __future__ import annotations

import copy
import random

import pytest
from transitions import MachineError

from ivr.flow import machine as triggers
from ivr.flow.loader import load_flow
from ivr.flow.machine import FlowMachine, compile_machine, flow_routes
from ivr.flow.schema import Flow
from ivr.prompts import load_catalogs
from ivr.session import CallSession
from ivr.testing.demo_line import ROOT
from tests.small_flow import SMALL_FLOW, small_flow

FLOW = small_flow(SMALL_FLOW.replace("    retries: 1\n", "    retries: 1\n    on_no_input: bye\n"))
"""The small flow, where a caller who stays silent is let go rather than handed over."""


def new_call(call_sid: str = "CA1") -> CallSession:
    return CallSession(
        call_sid=call_sid,
        caller="+15550100001",
        called="+15550009999",
        flow="small",
        state="menu",
        started_at=0.0,
    )


def fire(session: CallSession, trigger: str) -> str:
    """Fire `trigger` on one call with the shared machine; returns where the call is now."""
    assert MACHINE.events[trigger].trigger(session)
    return session.state


def failed_try_counted(session: CallSession, trigger: str) -> None:
    """Count a failed answer as the engine does before firing `trigger`."""
    session.attempts[session.state] = session.attempts.get(session.state, 0) + 1
    if trigger == triggers.NO_MATCH:
        key = triggers.misheard_key(session.state)
        session.attempts[key] = session.attempts.get(key, 0) + 1


def failed_try(session: CallSession, trigger: str) -> str:
    """A failed answer, counted as the engine counts it before firing."""
    failed_try_counted(session, trigger)
    return fire(session, trigger)


MACHINE = compile_machine(FLOW)


def test_each_option_goes_where_the_flow_says_and_the_call_remembers_its_path() -> None:
    session = new_call()
    assert fire(session, triggers.option_trigger("#")) == "more"
    assert fire(session, triggers.NEXT) == "bye"
    assert session.path == ["more", "bye"]
    assert session.visits == {"more": 1, "bye": 1}


def test_not_understood_asks_again_then_hands_over() -> None:
    session = new_call()
    assert failed_try(session, triggers.NO_MATCH) == "menu"  # one retry
    assert failed_try(session, triggers.NO_MATCH) == "agent"


def test_a_silent_caller_is_let_go_but_one_who_was_misheard_is_handed_over() -> None:
    silent, misheard = new_call("CA1"), new_call("CA2")
    assert failed_try(silent, triggers.NO_INPUT) == "menu"
    assert failed_try(silent, triggers.NO_INPUT) == "bye"
    assert failed_try(misheard, triggers.NO_MATCH) == "menu"
    assert failed_try(misheard, triggers.NO_INPUT) == "agent"


def test_calls_sharing_the_machine_keep_their_own_counts() -> None:
    first, second = new_call("CA1"), new_call("CA2")
    failed_try(first, triggers.NO_MATCH)
    assert failed_try(second, triggers.NO_MATCH) == "menu"  # the first call's failure is not its
    assert failed_try(first, triggers.NO_MATCH) == "agent"


def test_a_trigger_the_state_does_not_have_is_refused() -> None:
    session = new_call()
    with pytest.raises(MachineError):
        MACHINE.events[triggers.INPUT].trigger(session)
    assert session.state == "menu"


def support_flow() -> Flow:
    flow, _ = load_flow(ROOT / "flows" / "support.yaml", load_catalogs(ROOT / "prompts"))
    return flow


@pytest.mark.parametrize("flow", [FLOW, support_flow()], ids=["small", "support"])
def test_the_engine_s_dict_of_routes_goes_where_transitions_goes(flow: Flow) -> None:
    """Random walks, each trigger fired on two copies of the call: through `transitions` and
    through `FlowMachine.fire`; both must leave the same state, counts and path (or both refuse)."""
    reference, fast = compile_machine(flow), FlowMachine(flow)
    triggers_of: dict[str, list[str]] = {}
    for route in flow_routes(flow):
        triggers_of.setdefault(route.source, []).append(route.trigger)
    rng = random.Random(7)
    for walk in range(200):
        session = new_call(f"CA{walk}")
        session.state = rng.choice(list(flow.states))
        for _ in range(30):
            trigger = rng.choice([*triggers_of.get(session.state, []), triggers.INPUT])
            if rng.random() < 0.5:  # as the engine counts a failed try before firing
                failed_try_counted(session, rng.choice([triggers.NO_INPUT, triggers.NO_MATCH]))
            twin = copy.deepcopy(session)
            try:
                moved = reference.events[trigger].trigger(twin)
            except MachineError:
                moved = False
            assert fast.fire(session, trigger) == moved
            assert (session.state, session.visits, session.attempts, session.path) == (
                twin.state,
                twin.visits,
                twin.attempts,
                twin.path,
            )
