"""Compile a validated flow into its transitions: `transitions` checks them, a dict runs them.

The machine is built once per flow and shared by every call: a call's session is
passed as the model of each trigger, so no per-call machine is ever constructed.
Conditions and the arrival callback are our own closures, never names taken from the flow file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from transitions import EventData, Machine

from ivr.flow.actions import DEFAULTED_OUTCOMES
from ivr.flow.graph import targets
from ivr.flow.schema import (
    ActionState,
    Flow,
    GatherState,
    MenuState,
    SayState,
    State,
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
REPEAT = "repeat"
MAIN_MENU = "main_menu"


def intent_trigger(name: str) -> str:
    return f"intent:{name}"


def option_trigger(key: str) -> str:
    return f"option:{key}"


def outcome_trigger(outcome: str) -> str:
    return f"outcome:{outcome}"


def misheard_key(state_name: str) -> str:
    """Where a waiting state's no-match count lives in `CallSession.attempts`."""
    return f"{state_name}#misheard"


Condition = Callable[[CallSession], bool]
"""Whether a transition may be taken by this call."""


@dataclass(frozen=True, slots=True)
class Route:
    """One transition of the flow: on `trigger` in `source`, go to `dest` if `condition` holds."""

    trigger: str
    source: str
    dest: str
    condition: Condition | None = None


def _retries_left(state: WaitingState) -> Condition:
    def check(session: CallSession) -> bool:
        return session.attempts.get(state.name, 0) <= state.retry.retries

    return check


def _was_misheard(state: WaitingState) -> Condition:
    """A caller who spoke but was not understood is not 'silent', even if silent last."""

    def check(session: CallSession) -> bool:
        return session.attempts.get(misheard_key(state.name), 0) > 0

    return check


def _under_limit(state: SayState) -> Condition:
    def check(session: CallSession) -> bool:
        return session.visits.get(state.name, 0) < (state.limit_visits or 0)

    return check


def came_from(session: CallSession, silent: frozenset[str] = frozenset()) -> str:
    """The state the call was in before the one it waits in now (repeats of it and the
    `silent` states passed on the way, such as lookups, aside)."""
    here = session.state
    return next((name for name in reversed(session.path) if name != here and name not in silent), "")


def _came_from(name: str, silent: frozenset[str]) -> Condition:
    return lambda session: came_from(session, silent) == name


def _arrival(flow: Flow) -> Callable[[CallSession, str], None]:
    """Count visits and reset counters that belong to one attempt at a task.

    A waiting state's failed tries reset when the caller arrives from elsewhere. Retry
    loops (`say` states with a visit limit, like "I couldn't find that order") count
    since the caller last chose something in a menu: checking a second order after a
    first one was found starts with a fresh set of tries.
    """
    limited = [name for name, s in flow.states.items() if isinstance(s, SayState) and s.limit_visits]
    menus = {name for name, s in flow.states.items() if isinstance(s, MenuState)}

    def arrived(session: CallSession, source: str) -> None:
        dest = session.state
        session.visits[dest] = session.visits.get(dest, 0) + 1
        session.path.append(dest)
        if source != dest:
            session.attempts.pop(dest, None)
            session.attempts.pop(misheard_key(dest), None)
            if dest in menus:
                for name in limited:
                    session.visits.pop(name, None)

    return arrived


def _exits(state: State) -> set[str]:
    """Where a state may go next by its own settings."""
    return {exit_.target for exit_ in targets(state)}


def passed_on_the_way(flow: Flow, menu: str) -> frozenset[str]:
    """The states between an answer and `menu` that carry no content of their own: lookups,
    offers without intents ("Shall I text you the tracking link?") and what is said only
    after such an offer ("I've sent it"). "Repeat" at `menu` looks past them."""
    between = {menu}
    grew = True
    while grew:
        grew = False
        for name, state in flow.states.items():
            if name in between:
                continue
            offer = isinstance(state, MenuState) and not state.intents
            if (isinstance(state, ActionState) or offer) and between & _exits(state):
                between.add(name)
                grew = True
    sources: dict[str, set[str]] = {}
    for name, state in flow.states.items():
        for dest in _exits(state):
            sources.setdefault(dest, set()).add(name)
    for name, state in flow.states.items():  # "I've sent it": reached only by a lookup an offer ran
        if isinstance(state, SayState) and between & _exits(state):
            lookups = sources.get(name, set())
            if lookups and all(
                isinstance(flow.states[s], ActionState) and sources.get(s, set()) <= between for s in lookups
            ):
                between |= {name, *lookups}
    return frozenset(between - {menu})


def _answers_before(flow: Flow, menu: str, between: frozenset[str]) -> list[str]:
    """The `say` states that lead to `menu` straight or past `between` (a lookup, an offer to
    text a link): the answers a caller there may want again."""
    leads = between | {menu}
    return [
        name
        for name, s in flow.states.items()
        if isinstance(s, SayState) and leads & {s.next, s.limit_goto} and name not in leads
    ]


def flow_routes(flow: Flow) -> list[Route]:
    """Every transition of `flow`, in the order they are tried (the first that holds wins)."""
    routes: list[Route] = []

    def add(trigger: str, source: str, dest: str, condition: Condition | None = None) -> None:
        routes.append(Route(trigger, source, dest, condition))

    for name, state in flow.states.items():
        match state:
            case SayState():
                if state.limit_visits and state.limit_goto:
                    add(NEXT, name, state.next, _under_limit(state))
                    add(NEXT, name, state.limit_goto)
                else:
                    add(NEXT, name, state.next)
            case MenuState() | GatherState():
                if isinstance(state, MenuState):
                    for option in state.options:
                        add(option_trigger(option.key), name, option.goto)
                    if state.repeat:
                        # "Repeat" says again the answer the caller came from, or else the question.
                        between = passed_on_the_way(flow, name)
                        for answer in _answers_before(flow, name, between):
                            add(REPEAT, name, answer, _came_from(answer, between))
                else:
                    add(INPUT, name, state.next)
                add(REPEAT, name, name)
                # A request said at any question is taken (the engine asks more certainty where
                # the question is not one that takes requests); "main menu" leaves any question.
                for intent in flow.intents:
                    add(intent_trigger(intent.name), name, intent.goto)
                if flow.main_menu:
                    add(MAIN_MENU, name, flow.main_menu)
                add(NO_MATCH, name, name, _retries_left(state))
                add(NO_MATCH, name, state.retry.on_failure)
                add(NO_INPUT, name, name, _retries_left(state))
                add(NO_INPUT, name, state.retry.on_failure, _was_misheard(state))
                add(NO_INPUT, name, state.retry.on_no_input)
                if state.agent:
                    add(AGENT, name, flow.agent)
            case ActionState():
                for outcome, dest in state.outcomes.items():
                    add(outcome_trigger(outcome), name, dest)
                for outcome in sorted(DEFAULTED_OUTCOMES - set(state.outcomes)):  # flows from before them
                    add(outcome_trigger(outcome), name, flow.agent)
            case TransferState():
                add(TRANSFER_FAILED, name, state.fallback)
    return routes


def compile_machine(flow: Flow) -> Machine:
    """`flow_routes(flow)` as a `transitions` machine, whose session is the model of each trigger.

    `transitions` refuses a transition to a state that does not exist; `FlowMachine` builds
    this machine to have its routes checked, and the tests fire it as the reference that
    `FlowMachine.fire` must agree with.
    """
    arrived = _arrival(flow)

    def model(event: EventData) -> CallSession:
        session = event.model
        assert isinstance(session, CallSession)
        return session

    def condition(check: Condition) -> Callable[[EventData], bool]:
        return lambda event: check(model(event))

    def after(event: EventData) -> None:
        assert event.transition is not None
        arrived(model(event), event.transition.source)

    transitions: list[dict[str, Any]] = [
        {
            "trigger": route.trigger,
            "source": route.source,
            "dest": route.dest,
            "conditions": [condition(route.condition)] if route.condition else [],
        }
        for route in flow_routes(flow)
    ]
    return Machine(
        model=None,
        states=list(flow.states),
        transitions=transitions,
        initial=flow.start,
        send_event=True,
        auto_transitions=False,
        after_state_change=[after],
    )


class FlowMachine:
    """A flow's transitions, compiled once per flow and shared by every call.

    `transitions` checks the routes (`compile_machine`); a turn then finds its routes in a
    dict keyed by (state, trigger). Firing through `transitions` itself costs a twentieth
    of a webhook turn (events, event data and callback lists built per trigger), and a
    flow needs none of that: no callbacks but the one on arrival, no nested states.
    tests/test_flow_machine.py checks that both take every call to the same place.
    """

    def __init__(self, flow: Flow) -> None:
        compile_machine(flow)  # raises if a route leads to a state the flow does not have
        self._arrived = _arrival(flow)
        self._routes: dict[tuple[str, str], list[Route]] = {}
        for route in flow_routes(flow):
            self._routes.setdefault((route.source, route.trigger), []).append(route)

    def fire(self, session: CallSession, trigger: str) -> bool:
        """Take the first route of `trigger` from the call's state whose condition holds;
        False if the state has no such route, or none of them holds."""
        source = session.state
        for route in self._routes.get((source, trigger), ()):
            if route.condition is None or route.condition(session):
                session.state = route.dest
                self._arrived(session, source)
                return True
        return False
