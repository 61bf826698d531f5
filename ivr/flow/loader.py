"""Load a flow file into the typed schema, refusing it whole on any mistake.

Every problem is reported with the file, the line and the state, in words a
supervisor can act on; all problems are collected so one run shows them all.
`check_flow_text` gives an editor the same verdict as data, without raising.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ivr.flow.actions import ACTIONS, DEFAULTED_OUTCOMES, LIMIT_REACHED, RETIRED_OUTCOMES
from ivr.flow.graph import Exit, check_graph, targets
from ivr.flow.matching import (
    IntentMatcher,
    choose,
    mentions,
    named_choices,
)
from ivr.flow.problems import Problem, ProblemCode, Severity
from ivr.flow.schema import (
    ActionState,
    Flow,
    GatherState,
    HangupState,
    Intent,
    MenuOption,
    MenuState,
    Retry,
    SayState,
    State,
    StateKind,
    TransferState,
)
from ivr.locales import AGENT_WORDS
from ivr.locales import REPEAT_WORDS as REPEAT_WORDS_BY_LANGUAGE
from ivr.locales.en import REPEAT_WORDS
from ivr.prompts import PromptCatalog
from ivr.yamlsource import Document, Path_, SourceError, load_file, load_text

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_MENU_KEYS = set("123456789*#")
DEFAULT_AGENT_WORDS = ("agent", "representative", "operator", "person", "human", "someone")

_COMMON = {"type", "group"}
"""`group` names the part of the line a state belongs to in the diagram (see flow/groups.py)."""
_WAITING = {
    "prompt",
    "retries",
    "timeout",
    "no_input_prompt",
    "no_match_prompt",
    "on_failure",
    "on_no_input",
    "agent",
    "help_prompt",
    "wrong_key_prompt",
    "too_short_prompt",
}
_KEYS: dict[StateKind, set[str]] = {
    StateKind.SAY: _COMMON | {"prompt", "next", "limit", "interruptible"},
    StateKind.MENU: _COMMON | _WAITING | {"options", "intents", "repeat"},
    StateKind.GATHER: _COMMON
    | _WAITING
    | {"save_as", "min_digits", "max_digits", "finish_on_key", "speech", "next", "secret"},
    StateKind.ACTION: _COMMON | {"action", "outcomes"},
    StateKind.TRANSFER: _COMMON | {"prompt", "reason", "fallback"},
    StateKind.HANGUP: _COMMON | {"prompt", "outcome"},
}
_TOP = {"flow", "start", "agent", "agent_words", "defaults", "intents", "main_menu", "states"}
_DEFAULTS = {
    "retries",
    "timeout",
    "no_input_prompt",
    "no_match_prompt",
    "wrong_key_prompt",
    "too_short_prompt",
}
_LANGUAGE = re.compile(r"^[a-z]{2,3}$")
MENU_OPTIONS_WARNING = 5
"""More choices than this in one menu are more than most callers can keep in mind."""

__all__ = [
    "Exit",
    "FlowDraft",
    "FlowInvalid",
    "Problem",
    "ProblemCode",
    "Severity",
    "check_flow_text",
    "load_flow",
    "parse_flow",
    "read_draft",
    "targets",
]


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
    """Errors: any one of them blocks publishing."""
    warnings: tuple[Problem, ...] = ()
    """Shown to the editor; the flow still loads."""
    intents: tuple[Intent, ...] = ()
    main_menu: str = ""

    def flow(self, source: str) -> Flow:
        """The runnable flow; only for a draft without problems."""
        assert not self.problems, "a draft with problems never becomes a Flow"
        return Flow(
            name=self.name,
            source=source,
            start=self.start,
            agent=self.agent,
            agent_words=self.agent_words,
            states=self.states,
            intents=self.intents,
            main_menu=self.main_menu,
        )


class FlowInvalid(ValueError):
    """The flow file has mistakes; nothing of it is used."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = problems
        super().__init__("\n".join(self.lines()))

    def lines(self) -> list[str]:
        return [p.describe(self.source) for p in self.problems]


class _Checker:
    """Reads one document, collecting problems instead of stopping at the first."""

    def __init__(self, doc: Document, catalogs: Mapping[str, PromptCatalog]) -> None:
        self.doc = doc
        self.catalogs = catalogs
        self.problems: list[Problem] = []
        self.state_name: str | None = None

    def fail(self, path: Path_, message: str, code: ProblemCode = ProblemCode.SCHEMA) -> None:
        self.problems.append(Problem(self.doc.line(path), self.state_name, message, code))

    def text(
        self, data: Mapping[str, Any], key: str, path: Path_, *, required: bool = True, default: str = ""
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
        self, data: Mapping[str, Any], key: str, path: Path_, default: int, low: int, high: int
    ) -> int:
        value = data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.fail((*path, key), f"'{key}' must be a whole number from {low} to {high}")
            return default
        return value

    def flag(self, data: Mapping[str, Any], key: str, path: Path_, default: bool) -> bool:
        value = data.get(key, default)
        if not isinstance(value, bool):
            self.fail((*path, key), f"'{key}' must be true or false")
            return default
        return value

    def prompts(self, data: Mapping[str, Any], path: Path_, *, required: bool) -> tuple[str, ...]:
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

    def prompt_exists(self, prompt_id: str, path: Path_) -> None:
        variant = "{" in prompt_id
        prefix = prompt_id.split("{", 1)[0]
        for language, catalog in self.catalogs.items():
            found = catalog.has_prefix(prefix) if variant else catalog.has(prompt_id)
            if not found:
                message = f"prompt '{prompt_id}' is missing in language '{language}'"
                self.fail(path, message, ProblemCode.MISSING_PROMPT)


def load_flow(path: Path, catalogs: Mapping[str, PromptCatalog]) -> tuple[Flow, list[str]]:
    """Read and validate a flow file; returns the flow and any warnings."""
    try:
        doc = load_file(path)
    except SourceError as exc:
        raise FlowInvalid(exc.source, [Problem(exc.line, None, exc.message, ProblemCode.YAML)]) from None
    return parse_flow(doc, catalogs)


def parse_flow(doc: Document, catalogs: Mapping[str, PromptCatalog]) -> tuple[Flow, list[str]]:
    """Validate a flow document; refuses it whole (`FlowInvalid`) on any problem."""
    draft = read_draft(doc, catalogs)
    if draft.problems:
        raise FlowInvalid(doc.source, list(draft.problems))
    return draft.flow(doc.source), [w.describe(doc.source) for w in draft.warnings]


def check_flow_text(
    text: str, source: str, catalogs: Mapping[str, PromptCatalog]
) -> tuple[list[Problem], list[Problem]]:
    """(errors, warnings) for a flow being edited; any errors block publishing.

    Called on every keystroke of an editor, so it never raises on bad input: text that
    is not YAML yet is one error on the line where reading stopped.
    """
    try:
        doc = load_text(text, source)
    except SourceError as exc:
        return [Problem(exc.line, None, exc.message, ProblemCode.YAML)], []
    draft = read_draft(doc, catalogs)
    return list(draft.problems), list(draft.warnings)


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

    intents = _intents(c, data.get("intents", {}), set(raw_states))
    states: dict[str, State] = {}
    for state_name, raw in raw_states.items():
        c.state_name = state_name
        state = _parse_state(c, state_name, raw, defaults, agent, intents)
        if state is not None:
            states[state_name] = state
    c.state_name = None

    linked = _check_references(c, states, start, agent, set(raw_states))
    main_menu = c.text(data, "main_menu", (), required=False)
    if main_menu and not isinstance(states.get(main_menu), MenuState):
        c.fail(("main_menu",), f"'main_menu' names '{main_menu}', which is not a menu state")
    if agent in states and not isinstance(states[agent], TransferState):
        c.fail(("agent",), f"the agent state '{agent}' must be a transfer state")
    looping = _check_loops(c, states)
    if linked and len(states) == len(raw_states):
        # Following arrows that lead nowhere, or past a state that failed to parse,
        # would only add noise to the real mistake.
        c.problems += check_graph(states, start, agent, doc.line, looping=looping)
    if not c.problems:  # a state that failed to parse would make this a cascade of noise
        _check_variables(c, states)
    warnings = (
        _warnings(states)
        + _unheard_choices(states, catalogs, words, intents)
        + _thin_intents(intents, sorted(catalogs))
    )
    return FlowDraft(
        name, start, agent, words, states, tuple(raw_states), tuple(c.problems), warnings, intents, main_menu
    )


def _intents(c: _Checker, raw: Any, names: set[str]) -> tuple[Intent, ...]:
    """`intents:` maps a name to `goto` (a state) and phrase lists per language code."""
    if not isinstance(raw, dict):
        c.fail(("intents",), "'intents' must map intent names to a 'goto' and phrases per language")
        return ()
    out = []
    for name, item in raw.items():
        path: Path_ = ("intents", name)
        if not isinstance(item, dict):
            c.fail(path, "an intent is a mapping: 'goto' and a list of phrases per language (en: [...])")
            continue
        goto = c.text(item, "goto", path)
        if goto and goto not in names:
            c.fail(
                (*path, "goto"),
                f"intent '{name}' goes to '{goto}', which is not a state",
                ProblemCode.UNKNOWN_STATE,
            )
        phrases: dict[str, tuple[str, ...]] = {}
        for language, listed in item.items():
            if language == "goto":
                continue
            if not _LANGUAGE.match(str(language)):
                c.fail((*path, language), f"'{language}' is not a language code (like 'en') or 'goto'")
            elif not isinstance(listed, list) or not listed or not all(isinstance(p, str) for p in listed):
                c.fail((*path, language), f"'{language}' must be a list of phrases (quote yes/no)")
            else:
                phrases[str(language)] = tuple(p.lower() for p in listed)
        out.append(Intent(str(name), goto, phrases, c.doc.line(path) or 0))
    return tuple(out)


def _parse_state(
    c: _Checker,
    name: str,
    raw: Any,
    defaults: Mapping[str, Any],
    agent: str,
    intents: tuple[Intent, ...] = (),
) -> State | None:
    path: Path_ = ("states", name)
    line = c.doc.line(path) or 0
    if not _NAME.match(name):
        c.fail(path, "state names are lower-case letters, digits and underscores")
    if not isinstance(raw, dict):
        c.fail(path, "a state is a mapping with a 'type'")
        return None
    try:
        kind = StateKind(str(raw.get("type")))
    except ValueError:
        c.fail((*path, "type"), f"'type' must be one of {', '.join(k.value for k in StateKind)}")
        return None
    group = raw.get("group")
    if group is not None and not (isinstance(group, str) and _NAME.match(group)):
        c.fail((*path, "group"), "'group' is a name of lower-case letters, digits and underscores")
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
            intents if c.flag(raw, "intents", path, False) else (),
            c.flag(raw, "repeat", path, False),
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
                ProblemCode.UNKNOWN_ACTION,
            )
        elif action is not None:
            # `limit_reached` and `unavailable` came after the first flows were written: unrouted,
            # they go to the agent (`limit_reached` with a warning; `unavailable` without, as a line
            # on local tables never meets it), and routes for retired outcomes are left alone.
            missing = sorted(action.outcomes - set(outcomes) - DEFAULTED_OUTCOMES)
            extra = sorted(set(outcomes) - action.outcomes - RETIRED_OUTCOMES.get(action_name, frozenset()))
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
        if raw.get("fallback") is None:
            # No flow-level default on purpose: what a caller hears when nobody picks up
            # (closed, queue full) is a choice the editor of each hand-off must make.
            c.fail(
                path,
                "'fallback' is required: name the state a caller goes to when nobody answers "
                "(a hangup that apologises, or a menu)",
                ProblemCode.TRANSFER_FALLBACK,
            )
        return TransferState(
            name,
            line,
            c.prompts(raw, path, required=False),
            c.text(raw, "reason", path),
            c.text(raw, "fallback", path, required=False),
        )
    return HangupState(
        name,
        line,
        c.prompts(raw, path, required=False),
        c.text(raw, "outcome", path, required=False, default="resolved"),
    )


def _timeout(c: _Checker, raw: Mapping[str, Any], path: Path_, defaults: Mapping[str, Any]) -> int:
    return c.number(raw, "timeout", path, c.number(defaults, "timeout", ("defaults",), 6, 1, 60), 1, 60)


def _retry(
    c: _Checker, raw: Mapping[str, Any], path: Path_, defaults: Mapping[str, Any], agent: str
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
    extra: dict[str, str] = {}
    for key in ("help_prompt", "wrong_key_prompt", "too_short_prompt"):
        extra[key] = c.text(raw, key, path, required=False, default=str(defaults.get(key, "")))
        if extra[key]:
            c.prompt_exists(extra[key], (*path, key))
    return Retry(
        retries=c.number(raw, "retries", path, c.number(defaults, "retries", ("defaults",), 2, 0, 5), 0, 5),
        no_input_prompt=no_input,
        no_match_prompt=no_match,
        on_failure=on_failure,
        on_no_input=c.text(raw, "on_no_input", path, required=False, default=on_failure),
        **extra,
    )


def _options(c: _Checker, raw: Mapping[str, Any], path: Path_) -> tuple[MenuOption, ...]:
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
            c.fail(
                (*where, "key"),
                f"key {key} is used twice in this menu (also on line {seen[key]}); "
                "give each option its own key",
                ProblemCode.DUPLICATE_KEY,
            )
        seen.setdefault(key, line)
        raw_words = item.get("words", [])
        by_language: dict[str, tuple[str, ...]] = {}
        if isinstance(raw_words, dict):
            for code, listed in raw_words.items():
                by_language[str(code)] = _word_list(c, listed, (*where, "words", code))
            for code in c.catalogs:
                if not by_language.get(code):
                    c.fail(
                        (*where, "words"),
                        f"option {key} has no words in language '{code}' (prompts/{code}.yaml exists); "
                        f"add '{code}: [...]' under 'words'",
                        ProblemCode.MISSING_WORDS,
                    )
            words = next(iter(by_language.values()), ())
        else:
            words = _word_list(c, raw_words, (*where, "words"))
        goto = c.text(item, "goto", where)
        out.append(MenuOption(key, words, goto, line, by_language))
    return tuple(out)


def _word_list(c: _Checker, words: Any, path: Path_) -> tuple[str, ...]:
    """A list of words or phrases, lower-cased as speech arrives."""
    if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
        hint = ""
        if isinstance(words, list) and any(isinstance(w, bool) for w in words):
            hint = " (YAML reads bare yes/no/on/off as true/false: put them in quotes)"
        c.fail(path, f"'words' must be a list of words or phrases, or such lists by language{hint}")
        return ()
    return tuple(w.lower() for w in words)


def _check_references(
    c: _Checker, states: Mapping[str, State], start: str, agent: str, names: set[str]
) -> bool:
    """Report arrows to states that do not exist; True when every arrow lands on a state."""
    linked = True
    for setting, target in (("start", start), ("agent", agent)):
        linked = linked and target in names
        if target and target not in names:
            message = f"'{setting}' names '{target}', which is not a state"
            c.fail((setting,), message, ProblemCode.UNKNOWN_STATE)
    for state in states.values():
        c.state_name = state.name
        for exit_ in targets(state):
            linked = linked and exit_.target in names
            if exit_.target and exit_.target not in names:
                c.fail(
                    ("states", state.name, *exit_.path),
                    f"{exit_.setting} goes to '{exit_.target}', which is not a state",
                    ProblemCode.UNKNOWN_STATE,
                )
    c.state_name = None
    return linked


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
                            ProblemCode.MISSING_VARIABLE,
                        )
                    )


def _check_loops(c: _Checker, states: Mapping[str, State]) -> set[str]:
    """A cycle of say/action states never waits for the caller: it would talk forever.

    Returns the states in such loops, so the graph checks do not report them again."""
    automatic = {n: s for n, s in states.items() if isinstance(s, SayState | ActionState)}
    done: set[str] = set()
    looping: set[str] = set()

    def visit(name: str, stack: list[str]) -> None:
        if name in stack:
            cycle = [*stack[stack.index(name) :], name]
            looping.update(cycle)
            c.problems.append(
                Problem(
                    states[name].line,
                    name,
                    f"loop with no exit: {' -> '.join(cycle)} never waits for the caller",
                    ProblemCode.LOOP_NEVER_WAITS,
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
    return looping


def _choices(state: MenuState) -> int:
    """Options a caller must keep in mind; `*` (back to the main menu) is navigation, not a choice."""
    return sum(1 for option in state.options if option.key != "*")


def _warnings(states: Mapping[str, State]) -> tuple[Problem, ...]:
    """Shown to the editor, never blocking: the flow works, but callers may struggle."""
    warnings = [
        Problem(
            state.line,
            name,
            f"this menu offers {_choices(state)} choices; callers keep about {MENU_OPTIONS_WARNING} "
            "in mind, so consider moving some into a second menu",
            ProblemCode.MENU_TOO_LONG,
            Severity.WARNING,
        )
        for name, state in states.items()
        if isinstance(state, MenuState) and _choices(state) > MENU_OPTIONS_WARNING
    ]
    for name, state in states.items():
        if not isinstance(state, ActionState) or state.action not in ACTIONS:
            continue
        if LIMIT_REACHED in ACTIONS[state.action].outcomes and LIMIT_REACHED not in state.outcomes:
            message = (
                f"'{LIMIT_REACHED}' is not routed: a caller over the lookup limit goes straight to "
                "an agent; route it to tell them why first"
            )
            warnings.append(
                Problem(state.line, name, message, ProblemCode.OUTCOME_DEFAULTED, Severity.WARNING)
            )
        for outcome in sorted(RETIRED_OUTCOMES.get(state.action, frozenset()) & set(state.outcomes)):
            message = f"'{state.action}' no longer returns '{outcome}'; this route is never taken"
            code = ProblemCode.RETIRED_OUTCOME
            warnings.append(Problem(state.line, name, message, code, Severity.WARNING))
    return tuple(warnings)


MIN_PHRASES = 10
"""Fewer training phrases than this in a language leave an intent to guesswork there."""


def _thin_intents(intents: tuple[Intent, ...], languages: list[str]) -> tuple[Problem, ...]:
    """What makes the intent model guess: a phrase two intents share (it teaches both, so
    neither), and an intent with fewer than MIN_PHRASES phrases in a language the line speaks
    (one with a prompts file)."""
    warnings = []
    owner: dict[tuple[str, str], str] = {}
    for intent in intents:
        for language, phrases in intent.phrases.items():
            for phrase in dict.fromkeys(phrases):
                first = owner.setdefault((language, phrase), intent.name)
                if first != intent.name:
                    message = (
                        f"intents '{first}' and '{intent.name}' share the phrase '{phrase}' ({language}); "
                        "keep it in the one it means"
                    )
                    warnings.append(
                        Problem(intent.line, None, message, ProblemCode.SHARED_PHRASE, Severity.WARNING)
                    )
        for language in languages if intents else ():
            count = len(set(intent.phrases.get(language, ())))
            if count < MIN_PHRASES:
                message = (
                    f"intent '{intent.name}' has {count} phrase{'s' if count != 1 else ''} in '{language}'; "
                    f"give it at least {MIN_PHRASES}, as callers say it, for the line to understand it"
                )
                warnings.append(
                    Problem(intent.line, None, message, ProblemCode.FEW_PHRASES, Severity.WARNING)
                )
    return tuple(warnings)


def _unheard_choices(
    states: Mapping[str, State],
    catalogs: Mapping[str, PromptCatalog],
    agent_words: tuple[str, ...],
    intents: tuple[Intent, ...],
) -> tuple[Problem, ...]:
    """A menu that says "press 4 for service plans" must understand "service plans" said aloud.

    Each choice the prompt names ('press 1 for orders', 'for returns, press 4', 'die 2 für
    Reparaturen', 'tryck 2 för reparationer') is put to the menu as if a caller said it; a
    warning names every one that picks nothing (neither the option's words, the agent's, nor
    an intent)."""
    warnings = []
    for language, catalog in catalogs.items():
        matcher = IntentMatcher(intents, language)
        for_agent = agent_words + AGENT_WORDS.get(language, ())
        for name, state in states.items():
            if not isinstance(state, MenuState):
                continue
            if language != "en" and not any(language in o.words_by_language for o in state.options):
                continue  # a menu with one word list for all languages is checked in English only
            keys = {o.key for o in state.options} | ({"0"} if state.agent else set())
            for prompt_id in state.prompts:
                if not catalog.has(prompt_id):
                    continue
                for key, phrase in named_choices(catalog.render(prompt_id, {}), language):
                    if key not in keys:
                        continue  # a key the menu does not offer is not a question of words
                    if state.agent and (key == "0" or mentions(phrase, for_agent)):
                        understood = mentions(phrase, for_agent)
                    elif key == "*" and state.repeat:
                        understood = phrase in REPEAT_WORDS_BY_LANGUAGE.get(language, REPEAT_WORDS)
                    else:
                        picked = choose(state, phrase, matcher, language)
                        understood = picked.key == key or picked.intent is not None
                    if not understood:
                        message = (
                            f"prompt '{prompt_id}' ({language}) offers '{phrase}' for key {key}, but "
                            f"saying '{phrase}' matches none of this menu's words; add it to the "
                            "option's words"
                        )
                        code = ProblemCode.CHOICE_NOT_UNDERSTOOD
                        line = next((o.line for o in state.options if o.key == key), state.line)
                        warnings.append(Problem(line, name, message, code, Severity.WARNING))
    return tuple(warnings)
