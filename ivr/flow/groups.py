"""Which part of the line each state belongs to, so a large diagram can fold a part away.

Supervisors think of a line by what callers come for: orders, repairs, warranties, answers.
The flow already says so: its main menu offers one branch per need. A
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
from ivr.flow.schema import HangupState, MenuState, State, TransferState


def state_groups(states: Mapping[str, State], start: str, explicit: Mapping[str, str]) -> dict[str, str]:
    """Group name by state name, for the states in a group (others are left out)."""
    groups = max((_branches(states, menu) for menu in _menus(states, start)), key=_score, default={})
    groups.update({name: group for name, group in explicit.items() if name in states})
    return groups


def _score(groups: Mapping[str, str]) -> tuple[int, int]:
    """The main menu's branches are several sizeable parts of the line: not one branch that
    leads on to everything ("no, something else"), nor answers of one state each."""
    sizes: dict[str, int] = {}
    for group in groups.values():
        sizes[group] = sizes.get(group, 0) + 1
    return sum(1 for size in sizes.values() if size > 1), len(groups)


def _branches(states: Mapping[str, State], menu: MenuState) -> dict[str, str]:
    """The states each of `menu`'s branches alone reaches, by the branch's group name."""
    entries = {option.goto: _group_name(option.key, option.words) for option in menu.options}
    reached: dict[str, set[str]] = {}
    for entry in entries:
        for name in _reach(states, entry, stop={menu.name, *entries} - {entry}):
            reached.setdefault(name, set()).add(entry)
    return {name: entries[next(iter(by))] for name, by in reached.items() if len(by) == 1}


def _menus(states: Mapping[str, State], start: str) -> list[MenuState]:
    """The menus a call can reach, nearest first (a greeting may first ask "are you calling
    about order 4512?"; the main menu comes after)."""
    seen = {start}
    todo = [start]
    menus: list[MenuState] = []
    while todo:
        state = states.get(todo.pop(0))
        if state is None:
            continue
        if isinstance(state, MenuState):
            menus.append(state)
        for exit_ in targets(state):
            if exit_.target and exit_.target not in seen:
                seen.add(exit_.target)
                todo.append(exit_.target)
    return menus


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
        # intents reach their answers from every menu that takes own words: no branch owns them
        todo.extend(e.target for e in targets(state) if e.target and not e.setting.startswith("intent "))
    return found
