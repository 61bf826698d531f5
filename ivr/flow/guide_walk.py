"""A caller's way through a guide, kept in the call's variables (pure: no I/O).

The call's state lives in its session so a restart or another instance carries on at the
same step; here that state is a handful of variables the prompts read (`guide_title`,
`guide_step_number`, `guide_step_text`, `guide_steps`) and the answers so far. When a guide
does not solve the problem, `guide_outcome` says what was tried, in one line an agent reads
on the screen pop and the repair booking reads from the session: the guide's id, then each
step with the caller's answer ("dishwasher-e15: 1 no, 2 skipped, 3 no, 4 no").
"""

from __future__ import annotations

from collections.abc import MutableMapping
from enum import StrEnum

from ivr.flow.guides import Guide

GUIDE = "guide"
TITLE = "guide_title"
STEPS = "guide_steps"
STEP = "guide_step_number"
STEP_TEXT = "guide_step_text"
ANSWERS = "guide_answers"
OUTCOME = "guide_outcome"
"""The note a guide that did not help leaves for whoever takes the call on (agent, repair)."""
_WORKING = (STEP, STEP_TEXT, ANSWERS)
"""Variables only the walk needs: gone once it ends, so the agent's screen shows the outcome."""


class Answer(StrEnum):
    YES = "yes"
    """It helped: the problem is solved."""
    NO = "no"
    """Tried, did not help: the next step."""
    SKIPPED = "skipped"
    """"Next" without trying it."""


class Moved(StrEnum):
    STEP = "step"
    """There is a step to say."""
    DONE = "done"
    """No step is left: the guide did not solve it (`guide_outcome` is set)."""
    FIRST = "first"
    """"Back" at the first step: it is said again."""
    SOLVED = "solved"


def start(values: MutableMapping[str, str], guide: Guide, language: str) -> None:
    """Begin `guide` at its first step (a guide started again starts afresh)."""
    text = guide.text(language)
    values.pop(OUTCOME, None)
    values.update({GUIDE: guide.name, TITLE: text.title, STEPS: str(len(text.steps)), ANSWERS: ""})
    _show(values, guide, language, 1)


def answer(values: MutableMapping[str, str], guide: Guide, language: str, said: Answer) -> Moved:
    """Note the caller's answer to the current step and move on."""
    number = _current(values, guide, language)
    answers = _answers(values)
    answers[number] = said
    values[ANSWERS] = ",".join(f"{n}:{a}" for n, a in sorted(answers.items()))
    if said is Answer.YES:
        _finish(values)
        return Moved.SOLVED
    if number >= len(guide.text(language).steps):
        values[OUTCOME] = outcome(values, guide)
        _finish(values)
        return Moved.DONE
    _show(values, guide, language, number + 1)
    return Moved.STEP


def back(values: MutableMapping[str, str], guide: Guide, language: str) -> Moved:
    """The step before this one ("back"); at the first, the first again."""
    number = _current(values, guide, language)
    _show(values, guide, language, max(1, number - 1))
    return Moved.FIRST if number <= 1 else Moved.STEP


def outcome(values: MutableMapping[str, str], guide: Guide) -> str:
    """What was tried, for the agent and the repair booking: "dishwasher-e15: 1 no, 2 skipped"."""
    tried = ", ".join(f"{n} {a}" for n, a in sorted(_answers(values).items()))
    return f"{guide.name}: {tried}" if tried else guide.name


def _current(values: MutableMapping[str, str], guide: Guide, language: str) -> int:
    """The step the caller is at; a value out of range (a guide edited mid-call) is the last."""
    steps = len(guide.text(language).steps)
    raw = values.get(STEP, "1")
    number = int(raw) if raw.isdigit() else 1
    return min(max(number, 1), steps)


def _answers(values: MutableMapping[str, str]) -> dict[int, str]:
    out: dict[int, str] = {}
    for item in values.get(ANSWERS, "").split(","):
        number, _, said = item.partition(":")
        if number.isdigit() and said:
            out[int(number)] = said
    return out


def _show(values: MutableMapping[str, str], guide: Guide, language: str, number: int) -> None:
    steps = guide.text(language).steps
    values[STEP] = str(number)
    values[STEP_TEXT] = steps[number - 1]


def _finish(values: MutableMapping[str, str]) -> None:
    for name in _WORKING:
        values.pop(name, None)
