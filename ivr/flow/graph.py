"""Checks that follow a flow's arrows: can callers get to every state, and out again?

Each state is valid on its own, yet a flow can still trap a caller: a corner nobody
can reach, a group of states with no way to a goodbye or a person, a question asked
again forever to someone who stays silent, a hand-off whose fallback hands off again.
These checks run only on a flow whose every target names a real state. The arrows
themselves (`targets`) live here too, shared by the loader and the diagram.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from ivr.flow.problems import Problem, ProblemCode
from ivr.flow.schema import (
    ActionState,
    GatherState,
    HangupState,
    MenuState,
    Retry,
    SayState,
    State,
    TransferState,
)

LineOf = Callable[[tuple[str | int, ...]], int | None]
"""The line of a path in the flow file (a `Document.line`)."""

Edges = Callable[[State], Iterable[str]]


@dataclass(frozen=True, slots=True)
class Exit:
    """One way out of a state: where it leads and which setting says so."""

    setting: str
    """The setting as a supervisor reads it in a problem: 'option 1', 'on_failure', 'outcome verified'."""
    target: str
    """The state it leads to ('' when the setting is missing or unreadable)."""
    path: tuple[str | int, ...]
    """Where the setting sits inside the state, for its line number."""
    label: str
    """A few words for an arrow in a diagram: '1 order', 'fail', 'no input', 'verified'."""


def targets(state: State) -> Iterable[Exit]:
    """Every way out of a state that its own settings name (the flow's agent aside)."""
    match state:
        case SayState():
            yield Exit("next", state.next, ("next",), "")
            if state.limit_goto:
                yield Exit("limit goto", state.limit_goto, ("limit", "goto"), f"visit {state.limit_visits}")
        case MenuState():
            for index, option in enumerate(state.options):
                label = " ".join((option.key, *option.words[:1]))
                yield Exit(f"option {option.key}", option.goto, ("options", index, "goto"), label)
            for intent in state.intents:
                yield Exit(f"intent {intent.name}", intent.goto, ("intents",), f"says {intent.name}")
            yield from _retry_exits(state.retry)
        case GatherState():
            yield Exit("next", state.next, ("next",), "")
            yield from _retry_exits(state.retry)
        case ActionState():
            for outcome, target in state.outcomes.items():
                yield Exit(f"outcome {outcome}", target, ("outcomes", outcome), outcome)
        case TransferState():
            yield Exit("fallback", state.fallback, ("fallback",), "no answer")
        case HangupState():
            pass


def _retry_exits(retry: Retry) -> Iterable[Exit]:
    yield Exit("on_failure", retry.on_failure, ("on_failure",), "fail")
    yield Exit("on_no_input", retry.on_no_input, ("on_no_input",), "no input")


def _ends(state: State) -> bool:
    """A hangup ends the call; a transfer ends this flow's part in it (if nobody answers,
    the fallback check below makes sure the caller is not passed round forever)."""
    return isinstance(state, HangupState | TransferState)


def check_graph(
    states: Mapping[str, State], start: str, agent: str, line_of: LineOf, *, looping: set[str]
) -> list[Problem]:
    """Unreachable states, states with no way to end the call, endless retries and
    fallback loops. `looping` names states already reported in a loop that never waits,
    so one mistake gets one message."""

    def every_way(state: State) -> Iterable[str]:
        yield from (exit_.target for exit_ in targets(state))
        if isinstance(state, MenuState | GatherState) and state.agent:
            yield agent  # 0 or "agent" from here reaches a person

    reached = _reachable(states, [start, agent], every_way)
    problems = [
        Problem(
            state.line,
            name,
            f"no path from the start ('{start}') reaches this state; "
            "send a menu option or another state here, or delete it",
            ProblemCode.UNREACHABLE,
        )
        for name, state in states.items()
        if name not in reached
    ]
    can_end = _can_end(states, every_way)
    stuck = {name for name in reached if name not in can_end}
    for name in states:
        if name in stuck and name not in looping:
            trapped = _reachable(states, [name], every_way)
            among = (
                "stays in this state" if trapped == {name} else f"stays among {', '.join(sorted(trapped))}"
            )
            problems.append(
                Problem(
                    states[name].line,
                    name,
                    f"no way to end the call from here: every path {among} and never reaches "
                    "a hangup or transfer; give it a way out (a menu option or next to a goodbye, "
                    "or agent: true on a menu or gather)",
                    ProblemCode.NO_WAY_OUT,
                )
            )
    let_go_silent = _can_end(states, _giving_up("on_no_input"))
    let_go_misheard = _can_end(states, _giving_up("on_failure"))
    for name, state in states.items():
        if name in reached and name not in stuck and isinstance(state, MenuState | GatherState):
            problem = _endless_retry(
                state, line_of, silent=name not in let_go_silent, misheard=name not in let_go_misheard
            )
            if problem is not None:
                problems.append(problem)
    problems += _fallback_loops(states, reached, line_of)
    return problems


def _reachable(states: Mapping[str, State], roots: Iterable[str], edges: Edges) -> set[str]:
    seen = {root for root in roots if root in states}
    todo = list(seen)
    while todo:
        for target in edges(states[todo.pop()]):
            if target in states and target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def _can_end(states: Mapping[str, State], edges: Edges) -> set[str]:
    """States from which some path along `edges` reaches a hangup or transfer."""
    done = {name for name, state in states.items() if _ends(state)}
    changed = True
    while changed:
        changed = False
        for name, state in states.items():
            if name not in done and any(target in done for target in edges(state)):
                done.add(name)
                changed = True
    return done


def _giving_up(setting: str) -> Edges:
    """The arrows a caller follows who never gives an answer the flow understands:
    a waiting state's `setting` (on_no_input or on_failure), every arrow of the rest."""

    def edges(state: State) -> Iterable[str]:
        if isinstance(state, MenuState | GatherState):
            yield getattr(state.retry, setting)
        elif not _ends(state):
            yield from (exit_.target for exit_ in targets(state))

    return edges


def _endless_retry(
    state: MenuState | GatherState, line_of: LineOf, *, silent: bool, misheard: bool
) -> Problem | None:
    """The retry settings can be left out (they default to the agent), so 'missing handling'
    in this schema means handling that leads back to waiting: nobody ever lets go of a
    silent caller (a phone left off the hook keeps the line busy for hours)."""
    path: tuple[str | int, ...] = ("states", state.name)
    fix = "send it to a goodbye or an agent (left out, it goes to the flow's agent)"
    if silent and misheard:
        who, setting, target = "stays silent or is not understood", "on_failure", state.retry.on_failure
        fix = "send on_failure and on_no_input to a goodbye or an agent (left out, they go to the agent)"
    elif silent:
        who, setting, target = "stays silent", "on_no_input", state.retry.on_no_input
    elif misheard:
        who, setting, target = "is not understood", "on_failure", state.retry.on_failure
    else:
        return None
    where = "back to this same state" if target == state.name else f"to '{target}'"
    return Problem(
        line_of((*path, setting)),
        state.name,
        f"a caller who {who} is asked again forever: {setting} goes {where}, and from there "
        f"never reaches a hangup or transfer; {fix}",
        ProblemCode.ENDLESS_RETRY,
    )


def _fallback_loops(states: Mapping[str, State], reached: set[str], line_of: LineOf) -> list[Problem]:
    """When nobody answers, the fallback must lead somewhere new, not to the same hand-off
    again (directly, through other hand-offs, or through messages on the way)."""
    problems = []
    reported: set[frozenset[str]] = set()
    for name, state in states.items():
        if name not in reached or not isinstance(state, TransferState):
            continue
        chain = [name]
        here = state.fallback
        while here in states and here not in chain:
            chain.append(here)
            after = states[here]
            if isinstance(after, TransferState):
                here = after.fallback
            elif isinstance(after, SayState) and not after.limit_goto:
                here = after.next
            else:
                break
        if here != name or frozenset(chain) in reported:
            continue
        reported.add(frozenset(chain))
        problems.append(
            Problem(
                line_of(("states", name, "fallback")),
                name,
                f"when nobody answers, fallback leads back to this hand-off ({' -> '.join([*chain, name])}), "
                "so the caller waits forever; send fallback to a hangup that apologises, or a menu",
                ProblemCode.TRANSFER_FALLBACK,
            )
        )
    return problems
