"""Which part of the line each state belongs to, so a large diagram can fold a part away.

Supervisors think of a line by what callers come for: orders, repairs, warranties, answers.
The flow already says so: the first menu a call reaches offers one branch per need. A
state belongs to a branch's group when that branch reaches it and no other branch does,
walking the arrows without passing the menu itself, another branch's first state or an
ending (a hangup or a hand-off, which every branch shares). What several branches share
(the 'anything else?' menu, the offer of an agent, the endings) stays outside any group.
The group is named by the branch's first word ('1 order' -> 'order').

A state may name its group itself (`group: answers`): that wins over the derived one, for
a flow whose menu does not say it, or for a better name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ivr.flow.graph import targets
from ivr.flow.schema import HangupState, MenuState, SayState, State, TransferState


def state_groups(states: Mapping[str, State], start: str, explicit: Mapping[str, str]) -> dict[str, str]:
    """Group name by state name, for the states in a group (others are left out)."""
    menu = _first_menu(states, start)
    groups: dict[str, str] = {}
    if menu is not None:
        entries = {option.goto: _group_name(option.key, option.words) for option in menu.options}
        reached: dict[str, set[str]] = {}
        for entry in entries:
            for name in _reach(states, entry, stop={menu.name, *entries} - {entry}):
                reached.setdefault(name, set()).add(entry)
        groups = {name: entries[next(iter(by))] for name, by in reached.items() if len(by) == 1}
    groups.update({name: group for name, group in explicit.items() if name in states})
    return groups


def _first_menu(states: Mapping[str, State], start: str) -> MenuState | None:
    """The menu a call reaches first, through the says before it (the welcome)."""
    seen: set[str] = set()
    name = start
    while name in states and name not in seen:
        seen.add(name)
        state = states[name]
        if isinstance(state, MenuState):
            return state
        if not isinstance(state, SayState):
            return None
        name = state.next
    return None


def _group_name(key: str, words: Iterable[str]) -> str:
    first = next(iter(words), "")
    return first.split()[0].lower() if first.strip() else f"option {key}"


def _reach(states: Mapping[str, State], entry: str, stop: set[str]) -> set[str]:
    """States reachable from `entry` without passing a state in `stop` or an ending."""
    found: set[str] = set()
    todo = [entry]
    while todo:
        name = todo.pop()
        state = states.get(name)
        if name in found or name in stop or state is None or isinstance(state, HangupState | TransferState):
            continue
        found.add(name)
        todo.extend(exit_.target for exit_ in targets(state) if exit_.target)
    return found
