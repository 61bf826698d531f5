"""Load a flow file into the typed schema, refusing it whole on any mistake.

Every problem is reported with the file, the line and the state, in words a
supervisor can act on; all problems are collected so one run shows them all.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ivr.flow.actions import ACTIONS
from ivr.flow.schema import (
    ActionState,
    Flow,
    GatherState,
    HangupState,
    MenuOption,
    MenuState,
    Retry,
    SayState,
    State,
    StateKind,
    TransferState,
)
from ivr.prompts import PromptCatalog
from ivr.yamlsource import Document, SourceError, load_file

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_MENU_KEYS = set("123456789*#")
DEFAULT_AGENT_WORDS = ("agent", "representative", "operator", "person", "human", "someone")

_COMMON = {"type"}
_WAITING = {
    "prompt",
    "retries",
    "timeout",
    "no_input_prompt",
    "no_match_prompt",
    "on_failure",
    "on_no_input",
    "agent",
}
_KEYS: dict[StateKind, set[str]] = {
    StateKind.SAY: _COMMON | {"prompt", "next", "limit", "interruptible"},
    StateKind.MENU: _COMMON | _WAITING | {"options"},
    StateKind.GATHER: _COMMON
    | _WAITING
    | {"save_as", "min_digits", "max_digits", "finish_on_key", "speech", "next", "secret"},
    StateKind.ACTION: _COMMON | {"action", "outcomes"},
    StateKind.TRANSFER: _COMMON | {"prompt", "reason", "fallback"},
    StateKind.HANGUP: _COMMON | {"prompt", "outcome"},
}
_TOP = {"flow", "start", "agent", "agent_words", "defaults", "states"}
_DEFAULTS = {"retries", "timeout", "no_input_prompt", "no_match_prompt"}


@dataclass(frozen=True, slots=True)
class Problem:
    line: int | None
    state: str | None
    message: str


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


@dataclass(frozen=True, slots=True)
class FlowDraft:
    """Whatever could be read of a flow file, mistakes and all.

    A supervisor in the middle of an edit still needs to see their flow. The engine never
    gets a draft: only a `Flow` built from one with no problems.
    """

    name: str
    start: str
    agent: str
    agent_words: tuple[str, ...]
    states: Mapping[str, State]
    """The states that could be read; one without a mapping and a known 'type' is left out."""
    names: tuple[str, ...]
    """Every state name in the file, in file order, whether it could be read or not."""
    problems: tuple[Problem, ...]


class FlowInvalid(ValueError):
    """The flow file has mistakes; nothing of it is used."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = problems
        super().__init__("\n".join(self.lines()))

    def lines(self) -> list[str]:
        out = []
        for p in self.problems:
            where = f"{self.source} line {p.line}" if p.line else self.source
            state = f", state '{p.state}'" if p.state else ""
            out.append(f"{where}{state}: {p.message}")
        return out


class _Checker:
    """Reads one document, collecting problems instead of stopping at the first."""

    def __init__(self, doc: Document, catalogs: Mapping[str, PromptCatalog]) -> None:
        self.doc = doc
        self.catalogs = catalogs
        self.problems: list[Problem] = []
        self.state_name: str | None = None

    def fail(self, path: tuple[str | int, ...], message: str) -> None:
        self.problems.append(Problem(self.doc.line(path), self.state_name, message))

    def text(
        self, data: Mapping[str, Any], key: str, path: tuple, *, required: bool = True, default: str = ""
    ) -> str:
        value = data.get(key)
        if value is None:
            if required:
                self.fail(path, f"'{key}' is required")
            return default
        if isinstance(value, bool) or not isinstance(value, str | int):
            self.fail((*path, key), f"'{key}' must be text")
            return default
        return str(value)

    def number(
        self, data: Mapping[str, Any], key: str, path: tuple, default: int, low: int, high: int
    ) -> int:
        value = data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.fail((*path, key), f"'{key}' must be a whole number from {low} to {high}")
            return default
        return value

    def flag(self, data: Mapping[str, Any], key: str, path: tuple, default: bool) -> bool:
        value = data.get(key, default)
        if not isinstance(value, bool):
            self.fail((*path, key), f"'{key}' must be true or false")
            return default
        return value

    def prompts(self, data: Mapping[str, Any], path: tuple, *, required: bool) -> tuple[str, ...]:
        value = data.get("prompt")
        if value is None:
            if required:
                self.fail(path, "'prompt' is required")
            return ()
        items = value if isinstance(value, list) else [value]
        ids: list[str] = []
        for index, item in enumerate(items):
            where = (*path, "prompt", index) if isinstance(value, list) else (*path, "prompt")
            if not isinstance(item, str) or not item:
                self.fail(where, "a prompt is a prompt id (text)")
                continue
            self.prompt_exists(item, where)
            ids.append(item)
        return tuple(ids)

    def prompt_exists(self, prompt_id: str, path: tuple) -> None:
        variant = "{" in prompt_id
        prefix = prompt_id.split("{", 1)[0]
        for language, catalog in self.catalogs.items():
            found = catalog.has_prefix(prefix) if variant else catalog.has(prompt_id)
            if not found:
                self.fail(path, f"prompt '{prompt_id}' is missing in language '{language}'")


def load_flow(path: Path, catalogs: Mapping[str, PromptCatalog]) -> tuple[Flow, list[str]]:
    """Read and validate a flow file; returns the flow and any warnings."""
    try:
        doc = load_file(path)
    except SourceError as exc:
        raise FlowInvalid(exc.source, [Problem(exc.line, None, exc.message)]) from None
    return parse_flow(doc, catalogs)


def parse_flow(doc: Document, catalogs: Mapping[str, PromptCatalog]) -> tuple[Flow, list[str]]:
    """Validate a flow document; refuses it whole (`FlowInvalid`) on any problem."""
    draft = read_draft(doc, catalogs)
    if draft.problems:
        raise FlowInvalid(doc.source, list(draft.problems))
    flow = Flow(
        name=draft.name,
        source=doc.source,
        start=draft.start,
        agent=draft.agent,
        agent_words=draft.agent_words,
        states=draft.states,
    )
    return flow, _warnings(doc, flow)


def read_draft(doc: Document, catalogs: Mapping[str, PromptCatalog]) -> FlowDraft:
    """Read as much of a flow document as makes sense, collecting every problem.

    The same reading `parse_flow` validates with, so a diagram of a flow being edited
    shows exactly the states and ways out the engine would run once the problems are fixed.
    """
    c = _Checker(doc, catalogs)
    data = doc.data
    if not isinstance(data, dict):
        c.fail((), "a flow file is a mapping")
        return FlowDraft("", "", "", DEFAULT_AGENT_WORDS, {}, (), tuple(c.problems))
    for key in sorted(set(data) - _TOP):
        c.fail((key,), f"unknown setting '{key}'; allowed: {', '.join(sorted(_TOP))}")
    name = c.text(data, "flow", ())
    start = c.text(data, "start", ())
    agent = c.text(data, "agent", ())
    agent_words = data.get("agent_words", list(DEFAULT_AGENT_WORDS))
    if not isinstance(agent_words, list) or not all(isinstance(w, str) for w in agent_words):
        c.fail(("agent_words",), "'agent_words' must be a list of words")
        agent_words = list(DEFAULT_AGENT_WORDS)
    words = tuple(w.lower() for w in agent_words)
    defaults = data.get("defaults", {})
    if not isinstance(defaults, dict):
        c.fail(("defaults",), "'defaults' must be a mapping")
        defaults = {}
    for key in sorted(set(defaults) - _DEFAULTS):
        c.fail(("defaults", key), f"unknown default '{key}'; allowed: {', '.join(sorted(_DEFAULTS))}")
    raw_states = data.get("states")
    if not isinstance(raw_states, dict) or not raw_states:
        c.fail(("states",), "'states' must be a mapping of state names to states")
        return FlowDraft(name, start, agent, words, {}, (), tuple(c.problems))

    states: dict[str, State] = {}
    for state_name, raw in raw_states.items():
        c.state_name = state_name
        state = _parse_state(c, state_name, raw, defaults, agent)
        if state is not None:
            states[state_name] = state
    c.state_name = None

    _check_references(c, states, start, agent, set(raw_states))
    if agent in states and not isinstance(states[agent], TransferState):
        c.fail(("agent",), f"the agent state '{agent}' must be a transfer state")
    _check_loops(c, states)
    if not c.problems:  # a state that failed to parse would make this a cascade of noise
        _check_variables(c, states)
    return FlowDraft(name, start, agent, words, states, tuple(raw_states), tuple(c.problems))


def _parse_state(c: _Checker, name: str, raw: Any, defaults: Mapping[str, Any], agent: str) -> State | None:
    path: tuple[str | int, ...] = ("states", name)
    line = c.doc.line(path) or 0
    if not _NAME.match(name):
        c.fail(path, "state names are lower-case letters, digits and underscores")
    if not isinstance(raw, dict):
        c.fail(path, "a state is a mapping with a 'type'")
        return None
    try:
        kind = StateKind(raw.get("type"))
    except ValueError:
        c.fail((*path, "type"), f"'type' must be one of {', '.join(k.value for k in StateKind)}")
        return None
    for key in sorted(set(raw) - _KEYS[kind]):
        c.fail(
            (*path, key),
            f"'{key}' is not a setting of a {kind} state; allowed: {', '.join(sorted(_KEYS[kind]))}",
        )

    if kind is StateKind.SAY:
        limit = raw.get("limit")
        visits, goto = None, None
        if limit is not None:
            if isinstance(limit, dict) and set(limit) == {"visits", "goto"}:
                visits = c.number(limit, "visits", (*path, "limit"), 3, 1, 20)
                goto = c.text(limit, "goto", (*path, "limit"))
            else:
                c.fail((*path, "limit"), "'limit' needs exactly 'visits' and 'goto'")
        return SayState(
            name,
            line,
            c.prompts(raw, path, required=True),
            c.text(raw, "next", path),
            visits,
            goto,
            c.flag(raw, "interruptible", path, True),
        )
    if kind is StateKind.MENU:
        return MenuState(
            name,
            line,
            c.prompts(raw, path, required=True),
            _options(c, raw, path),
            _retry(c, raw, path, defaults, agent),
            _timeout(c, raw, path, defaults),
            c.flag(raw, "agent", path, True),
        )
    if kind is StateKind.GATHER:
        save_as = c.text(raw, "save_as", path)
        if save_as and not _NAME.match(save_as):
            c.fail((*path, "save_as"), "'save_as' must be a variable name (letters, digits, _)")
        min_digits = c.number(raw, "min_digits", path, 1, 1, 30)
        max_digits = c.number(raw, "max_digits", path, 20, 1, 30)
        if min_digits > max_digits:
            c.fail((*path, "min_digits"), "'min_digits' is larger than 'max_digits'")
        finish = c.text(raw, "finish_on_key", path, required=False, default="#")
        if finish not in ("#", "*", ""):
            c.fail((*path, "finish_on_key"), "'finish_on_key' must be '#', '*' or empty")
        return GatherState(
            name,
            line,
            c.prompts(raw, path, required=True),
            save_as,
            min_digits,
            max_digits,
            finish,
            c.flag(raw, "speech", path, True),
            c.text(raw, "next", path),
            _retry(c, raw, path, defaults, agent),
            _timeout(c, raw, path, defaults),
            c.flag(raw, "agent", path, True),
            c.flag(raw, "secret", path, False),
        )
    if kind is StateKind.ACTION:
        action_name = c.text(raw, "action", path)
        outcomes = raw.get("outcomes")
        if not isinstance(outcomes, dict) or not all(isinstance(v, str) for v in outcomes.values()):
            c.fail((*path, "outcomes"), "'outcomes' must map each outcome to a state")
            outcomes = {}
        action = ACTIONS.get(action_name)
        if action is None and action_name:
            c.fail(
                (*path, "action"),
                f"unknown action '{action_name}'; the service's actions are: {', '.join(sorted(ACTIONS))}",
            )
        elif action is not None:
            missing = sorted(action.outcomes - set(outcomes))
            extra = sorted(set(outcomes) - action.outcomes)
            if missing:
                c.fail((*path, "outcomes"), f"outcomes of '{action_name}' not routed: {', '.join(missing)}")
            for key in extra:
                c.fail(
                    (*path, "outcomes", key),
                    f"'{action_name}' never returns '{key}'; "
                    f"its outcomes are {', '.join(sorted(action.outcomes))}",
                )
        return ActionState(name, line, action_name, dict(outcomes))
    if kind is StateKind.TRANSFER:
        return TransferState(
            name,
            line,
            c.prompts(raw, path, required=False),
            c.text(raw, "reason", path),
            c.text(raw, "fallback", path),
        )
    return HangupState(
        name,
        line,
        c.prompts(raw, path, required=False),
        c.text(raw, "outcome", path, required=False, default="resolved"),
    )


def _timeout(c: _Checker, raw: Mapping[str, Any], path: tuple, defaults: Mapping[str, Any]) -> int:
    return c.number(raw, "timeout", path, c.number(defaults, "timeout", ("defaults",), 6, 1, 60), 1, 60)


def _retry(
    c: _Checker, raw: Mapping[str, Any], path: tuple, defaults: Mapping[str, Any], agent: str
) -> Retry:
    no_input = c.text(
        raw, "no_input_prompt", path, required=False, default=str(defaults.get("no_input_prompt", "no_input"))
    )
    no_match = c.text(
        raw, "no_match_prompt", path, required=False, default=str(defaults.get("no_match_prompt", "no_match"))
    )
    c.prompt_exists(no_input, (*path, "no_input_prompt"))
    c.prompt_exists(no_match, (*path, "no_match_prompt"))
    on_failure = c.text(raw, "on_failure", path, required=False, default=agent)
    return Retry(
        retries=c.number(raw, "retries", path, c.number(defaults, "retries", ("defaults",), 2, 0, 5), 0, 5),
        no_input_prompt=no_input,
        no_match_prompt=no_match,
        on_failure=on_failure,
        on_no_input=c.text(raw, "on_no_input", path, required=False, default=on_failure),
    )


def _options(c: _Checker, raw: Mapping[str, Any], path: tuple) -> tuple[MenuOption, ...]:
    options = raw.get("options")
    if not isinstance(options, list) or not options:
        c.fail((*path, "options"), "a menu needs a list of 'options'")
        return ()
    seen: dict[str, int] = {}
    out = []
    for index, item in enumerate(options):
        where = (*path, "options", index)
        if not isinstance(item, dict):
            c.fail(where, "an option is a mapping with 'key', 'words' and 'goto'")
            continue
        for key in sorted(set(item) - {"key", "words", "goto"}):
            c.fail((*where, key), f"'{key}' is not a setting of a menu option")
        key = str(item.get("key", ""))
        line = c.doc.line(where) or 0
        if key == "0" and raw.get("agent", True):
            c.fail((*where, "key"), "key 0 is kept for 'agent' in every menu")
        elif key not in _MENU_KEYS and key != "0":
            c.fail((*where, "key"), f"key '{key}' must be one keypad key: 1-9, * or #")
        elif key in seen:
            c.fail((*where, "key"), f"key {key} is used twice in this menu (also on line {seen[key]})")
        seen.setdefault(key, line)
        words = item.get("words", [])
        if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
            hint = ""
            if isinstance(words, list) and any(isinstance(w, bool) for w in words):
                hint = " (YAML reads bare yes/no/on/off as true/false: put them in quotes)"
            c.fail((*where, "words"), f"'words' must be a list of words or phrases{hint}")
            words = []
        out.append(MenuOption(key, tuple(w.lower() for w in words), c.text(item, "goto", where), line))
    return tuple(out)


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


def _check_references(
    c: _Checker, states: Mapping[str, State], start: str, agent: str, names: set[str]
) -> None:
    for setting, target in (("start", start), ("agent", agent)):
        if target and target not in names:
            c.fail((setting,), f"'{setting}' names '{target}', which is not a state")
    for state in states.values():
        c.state_name = state.name
        for exit_ in targets(state):
            if exit_.target and exit_.target not in names:
                c.fail(
                    ("states", state.name, *exit_.path),
                    f"{exit_.setting} goes to '{exit_.target}', which is not a state",
                )
    c.state_name = None


def _check_variables(c: _Checker, states: Mapping[str, State]) -> None:
    """An action reading a number no gather collects would always come up empty."""
    saved = {s.save_as for s in states.values() if isinstance(s, GatherState)}
    for state in states.values():
        if isinstance(state, ActionState) and state.action in ACTIONS:
            for name in ACTIONS[state.action].reads:
                if name not in saved:
                    c.problems.append(
                        Problem(
                            c.doc.line(("states", state.name, "action")),
                            state.name,
                            f"'{state.action}' needs '{name}', but no gather saves it (save_as: {name})",
                        )
                    )


def _check_loops(c: _Checker, states: Mapping[str, State]) -> None:
    """A cycle of say/action states never waits for the caller: it would talk forever."""
    automatic = {n: s for n, s in states.items() if isinstance(s, SayState | ActionState)}
    done: set[str] = set()

    def visit(name: str, stack: list[str]) -> None:
        if name in stack:
            cycle = [*stack[stack.index(name) :], name]
            c.problems.append(
                Problem(
                    states[name].line,
                    name,
                    f"loop with no exit: {' -> '.join(cycle)} never waits for the caller",
                )
            )
            return
        if name in done or name not in automatic:
            return
        stack.append(name)
        for exit_ in targets(automatic[name]):
            visit(exit_.target, stack)
        stack.pop()
        done.add(name)

    for name in automatic:
        visit(name, [])


def _warnings(doc: Document, flow: Flow) -> list[str]:
    seen = {flow.start, flow.agent}
    todo = [flow.start, flow.agent]
    while todo:
        for exit_ in targets(flow.states[todo.pop()]):
            if exit_.target not in seen:
                seen.add(exit_.target)
                todo.append(exit_.target)
    return [
        f"{doc.source} line {state.line}, state '{name}': no path reaches this state"
        for name, state in flow.states.items()
        if name not in seen
    ]
