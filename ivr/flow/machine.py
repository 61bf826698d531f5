"""Compile a validated flow into one `transitions` state machine.

The machine is built once per flow and shared by every call: a call's session is
passed as the model of each trigger, so no per-call machine is ever constructed.
Callbacks and conditions are our own closures, never names taken from the flow file.
"""

from __future__ import annotations

from typing import Any

from transitions import EventData, Machine

from ivr.flow.schema import (
    ActionState,
    Flow,
    GatherState,
    MenuState,
    SayState,
    TransferState,
    WaitingState,
)
from ivr.session import CallSession

NEXT = "next"
INPUT = "input"
NO_INPUT = "no_input"
NO_MATCH = "no_match"
AGENT = "agent"
TRANSFER_FAILED = "transfer_failed"


def option_trigger(key: str) -> str:
    return f"option:{key}"


def outcome_trigger(outcome: str) -> str:
    return f"outcome:{outcome}"


def _model(event: EventData) -> CallSession:
    model = event.model
    assert isinstance(model, CallSession)
    return model


def misheard_key(state_name: str) -> str:
    """Where a waiting state's no-match count lives in `CallSession.attempts`."""
    return f"{state_name}#misheard"


def _retries_left(state: WaitingState) -> Any:
    def check(event: EventData) -> bool:
        return _model(event).attempts.get(state.name, 0) <= state.retry.retries

    return check


def _was_misheard(state: WaitingState) -> Any:
    """A caller who spoke but was not understood is not 'silent', even if silent last."""

    def check(event: EventData) -> bool:
        return _model(event).attempts.get(misheard_key(state.name), 0) > 0

    return check


def _under_limit(state: SayState) -> Any:
    def check(event: EventData) -> bool:
        return _model(event).visits.get(state.name, 0) < (state.limit_visits or 0)

    return check


def _arrival(flow: Flow) -> Any:
    """Count visits and reset counters that belong to one attempt at a task.

    A waiting state's failed tries reset when the caller arrives from elsewhere. Retry
    loops (`say` states with a visit limit, like "I couldn't find that order") count
    since the caller last chose something in a menu: checking a second order after a
    first one was found starts with a fresh set of tries.
    """
    limited = [name for name, s in flow.states.items() if isinstance(s, SayState) and s.limit_visits]
    menus = {name for name, s in flow.states.items() if isinstance(s, MenuState)}

    def arrived(event: EventData) -> None:
        session = _model(event)
        dest = session.state
        session.visits[dest] = session.visits.get(dest, 0) + 1
        session.path.append(dest)
        transition = event.transition
        if transition is not None and transition.source != dest:
            session.attempts.pop(dest, None)
            session.attempts.pop(misheard_key(dest), None)
            if dest in menus:
                for name in limited:
                    session.visits.pop(name, None)

    return arrived


def compile_machine(flow: Flow) -> Machine:
    transitions: list[dict[str, Any]] = []

    def add(trigger: str, source: str, dest: str, **extra: Any) -> None:
        transitions.append({"trigger": trigger, "source": source, "dest": dest, **extra})

    for name, state in flow.states.items():
        match state:
            case SayState():
                if state.limit_visits and state.limit_goto:
                    add(NEXT, name, state.next, conditions=[_under_limit(state)])
                    add(NEXT, name, state.limit_goto)
                else:
                    add(NEXT, name, state.next)
            case MenuState() | GatherState():
                if isinstance(state, MenuState):
                    for option in state.options:
                        add(option_trigger(option.key), name, option.goto)
                else:
                    add(INPUT, name, state.next)
                add(NO_MATCH, name, name, conditions=[_retries_left(state)])
                add(NO_MATCH, name, state.retry.on_failure)
                add(NO_INPUT, name, name, conditions=[_retries_left(state)])
                add(NO_INPUT, name, state.retry.on_failure, conditions=[_was_misheard(state)])
                add(NO_INPUT, name, state.retry.on_no_input)
                if state.agent:
                    add(AGENT, name, flow.agent)
            case ActionState():
                for outcome, dest in state.outcomes.items():
                    add(outcome_trigger(outcome), name, dest)
            case TransferState():
                add(TRANSFER_FAILED, name, state.fallback)
    return Machine(
        model=None,
        states=list(flow.states),
        transitions=transitions,
        initial=flow.start,
        send_event=True,
        auto_transitions=False,
        after_state_change=[_arrival(flow)],
    )
