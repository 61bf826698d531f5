"""The shape of a flow that the insights name: its main menu, its main paths and its answers.

Derived from the flow itself rather than named in code, so a supervisor's new menu is
counted as it is published.
"""

from __future__ import annotations

from ivr.flow.actions import SELF_SERVICE
from ivr.flow.schema import ActionState, Flow, GatherState, MenuState, SayState, TransferState


def main_menu(flow: Flow) -> str | None:
    """The menu callers reach from the start without answering anything (through spoken
    states and lookups) that offers the most options: the main menu, not a shortcut such as
    "press 1 for your open order" that a lookup may offer first."""
    menus: list[MenuState] = []
    queue, seen = [flow.start], set()
    while queue:
        name = queue.pop(0)
        if name in seen:
            continue
        seen.add(name)
        state = flow.states.get(name)
        if isinstance(state, MenuState):
            menus.append(state)
        elif isinstance(state, SayState):
            queue.append(state.next)
        elif isinstance(state, ActionState):
            queue.extend(state.outcomes.values())
    return max(menus, key=lambda m: len(m.options)).name if menus else None


def main_paths(flow: Flow) -> list[str]:
    """Where each of the main menu's options leads: one path per option, in key order."""
    menu = main_menu(flow)
    state = flow.states.get(menu or "")
    if not isinstance(state, MenuState):
        return []
    return list(dict.fromkeys(option.goto for option in state.options))


def answer_states(flow: Flow) -> frozenset[str]:
    """States that give the caller what they came for: spoken answers that lead on to a menu
    ("anything else?") or to a further step (an offer to text a link), as opposed to
    apologies that lead back to a question or to a person."""
    return frozenset(
        name
        for name, state in flow.states.items()
        if isinstance(state, SayState)
        and isinstance(flow.states.get(state.next), MenuState | ActionState)
        and name != flow.start
    )


def happy_chain(flow: Flow, entry: str) -> list[str]:
    """The states a caller passes on a path when everything works, up to its first answer
    (each action's first outcome, each say's next): the steps of the path's funnel."""
    answers = answer_states(flow)
    chain: list[str] = []
    name: str | None = entry
    while name is not None and name not in chain and len(chain) < 12:
        chain.append(name)
        state = flow.states.get(name)
        if name in answers or state is None:
            break
        match state:
            case GatherState():
                name = state.next
            case ActionState():
                name = next(iter(state.outcomes.values()), None)
            case SayState():
                name = state.next
            case _:
                name = None
    return chain


def transfer_states(flow: Flow) -> dict[str, str]:
    """Each hand-off state's reason."""
    return {name: s.reason for name, s in flow.states.items() if isinstance(s, TransferState)}


def self_service_steps(flow: Flow) -> dict[str, tuple[str, frozenset[str]]]:
    """Each state that runs a self-service action (`SELF_SERVICE`): what it finishes, and the
    states its successful outcomes lead to. A call whose path goes from the one to the other
    had the job done ("returns_started"), whatever the states are called."""
    steps = {}
    for name, state in flow.states.items():
        if isinstance(state, ActionState) and state.action in SELF_SERVICE:
            what, done = SELF_SERVICE[state.action]
            steps[name] = (
                what,
                frozenset(goto for outcome, goto in state.outcomes.items() if outcome in done),
            )
    return steps
