"""A finished call's record, as the counts the insights add up (pure: no I/O).

Everything here is read from what the line wrote down while the call happened: the path
with its times, each answer's kind and result, the flow's reason for a hand-off, and the
queue entry's join and leave times. Records from before those were kept still count where
they can: a path without times counts for drop-off but not for time to answer, and a
hand-off without a recorded reason takes the reason of the hand-off state in its path.

A call counts on the day it started in the line's time zone (`days`), and in the UTC
quarter hour it started for volume.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import tzinfo
from enum import StrEnum

from ivr.flow.schema import Flow, HangupState, TransferState
from ivr.insights.days import QUARTER, local_day
from ivr.insights.paths import (
    answer_states,
    happy_chain,
    main_menu,
    main_paths,
    self_service_steps,
    transfer_states,
)
from ivr.session import CallSession, InputKind, InputResult


class Metric(StrEnum):
    """What a roll-up row counts; `key` says of what (a state, a reason...)."""

    CALLS = "calls"
    """Key ''; total: seconds the calls lasted."""
    OUTCOME = "outcome"
    CONTAINED = "contained"
    """Resolved by the line alone, never handed to a person."""
    TRANSFERRED = "transferred"
    """Key: the flow's reason for the hand-off."""
    HANDED_FROM = "handed_from"
    """Key: the state the caller was in when the line handed them over."""
    HANDOFF_RESULT = "handoff_result"
    """Key: what came of a hand-off (`HandoffResult`); total: seconds waited in the queue."""
    QUEUE_WAIT = "queue_wait"
    """Key: the call; total: seconds it waited in the queue. Kept one row per call
    (`insight_waits`), not summed, so that medians and percentiles are exact."""
    DROP_OFF = "drop_off"
    """Key: the state where a call ended neither resolved nor handed over."""
    PASSED = "passed"
    """Key: a state the call passed (once per call)."""
    INPUT = "input"
    NO_MATCH = "no_match"
    NO_INPUT = "no_input"
    KEYPAD = "keypad"
    SPEECH = "speech"
    PATH = "path"
    """Key: the main menu option's first state that the call took first."""
    PATH_STEP = "path_step"
    """Key: 'path<TAB>state': a step of that path's funnel that a call on the path passed
    (once per call). Counted per path, so a state many paths share (a goodbye) is not
    credited to each path's funnel with every call that passed it."""
    ANSWERED = "answered"
    """Key: the path; total: seconds from the call's start to the first answer."""
    MISHEARD = "misheard"
    """Key: 'state<TAB>words' of a spoken menu answer that matched nothing."""
    SELF_SERVICE = "self_service"
    """Key: a job the line finished in the call ('returns_started'), once per call; with
    '_contained' after it when the call also ended without a person."""


class HandoffResult(StrEnum):
    ANSWERED = "answered"
    ABANDONED = "abandoned"
    """Hung up in the queue before an agent took the call."""
    CALLBACK = "callback_requested"
    VOICEMAIL = "voicemail"
    """Chose to leave a message while waiting."""
    AFTER_HOURS = "after_hours_voicemail"
    NO_AGENT = "no_agent"
    """The transfer failed (nobody answered a dialled number)."""
    DIALLED = "dialled"
    """Handed to a number or a Twilio queue this service does not see into."""


MISHEARD_CHARS = 80


@dataclass(frozen=True, slots=True)
class QueueVisit:
    """The queue entry of a call (`queue_entries`): joined, taken or left, and how it ended."""

    state: str
    enqueued_at: float
    bridged_at: float | None
    ended_at: float | None


@dataclass(frozen=True, slots=True)
class Count:
    day: int
    """The day the call started in the line's time zone (days since 1970-01-01)."""
    quarter: int
    """The quarter hour the call started (seconds since the epoch // 900, UTC)."""
    flow: str
    version: int
    language: str
    direction: str
    metric: Metric
    key: str
    count: int = 1
    total: float = 0.0


def call_counts(
    session: CallSession,
    flow: Flow,
    *,
    queue: QueueVisit | None,
    after_hours_voicemail: bool,
    language: str,
    direction: str,
    zone: tzinfo,
) -> list[Count]:
    """The counts one finished call adds to the roll-ups (its day in the line's `zone`)."""
    counts = _Counts(session, language, direction, zone)
    add = counts.add

    ended = session.ended_at if session.ended_at is not None else session.started_at
    add(Metric.CALLS, total=max(0.0, ended - session.started_at))
    add(Metric.OUTCOME, session.outcome or "unknown")
    for state in dict.fromkeys(session.path):
        add(Metric.PASSED, state)

    shape = FlowShape.of(flow)
    reasons = shape.transfers
    first_transfer = next((i for i, s in enumerate(session.path) if s in reasons), None)
    reason = session.transfer_reason or (reasons[session.path[first_transfer]] if first_transfer else "")
    if first_transfer is not None and not reason:
        reason = "unknown"
    if reason:
        add(Metric.TRANSFERRED, reason)
        before = session.path[first_transfer - 1] if first_transfer else ""
        if before:
            add(Metric.HANDED_FROM, before)
        _handoff(add, session, queue, after_hours_voicemail, ended)
    elif session.outcome == "resolved":
        add(Metric.CONTAINED)
    else:
        add(Metric.DROP_OFF, _last_step(session, shape))

    for state, kind, result in (entry[:3] for entry in session.inputs if len(entry) >= 3):
        add(Metric.INPUT, state)
        if result == InputResult.NO_MATCH:
            add(Metric.NO_MATCH, state)
        elif result == InputResult.NO_INPUT:
            add(Metric.NO_INPUT, state)
        if kind == InputKind.KEY:
            add(Metric.KEYPAD, state)
        elif kind == InputKind.SPEECH:
            add(Metric.SPEECH, state)
    for state, words in (entry[:2] for entry in session.misheard if len(entry) >= 2):
        add(Metric.MISHEARD, f"{state}\t{' '.join(words.lower().split())[:MISHEARD_CHARS]}")

    _path(add, session, shape)
    for what in _self_service(session, shape):
        add(Metric.SELF_SERVICE, what)
        if session.outcome == "resolved" and not reason:
            add(Metric.SELF_SERVICE, f"{what}_contained")
    return counts.out


def _self_service(session: CallSession, shape: FlowShape) -> list[str]:
    """The jobs finished in this call: a self-service action's state followed in the path by
    one of the states its successful outcomes lead to."""
    done = [
        shape.self_service[state][0]
        for state, after in zip(session.path, session.path[1:], strict=False)
        if state in shape.self_service and after in shape.self_service[state][1]
    ]
    return list(dict.fromkeys(done))


@dataclass(frozen=True, slots=True)
class FlowShape:
    """What `call_counts` needs of a flow, worked out once per flow (see `paths`)."""

    transfers: dict[str, str]
    menu: str | None
    entries: frozenset[str]
    answers: frozenset[str]
    endings: frozenset[str]
    """Hang-up and transfer states: a call that stops in one was left in the state before."""
    self_service: dict[str, tuple[str, frozenset[str]]]
    funnels: dict[str, frozenset[str]]
    """Each main path's funnel steps (`happy_chain`)."""

    @classmethod
    def of(cls, flow: Flow) -> FlowShape:
        cached = _SHAPES.get(id(flow))
        if cached is not None and cached[0] is flow:
            return cached[1]
        shape = cls(
            transfer_states(flow),
            main_menu(flow),
            frozenset(main_paths(flow)),
            answer_states(flow),
            frozenset(n for n, s in flow.states.items() if isinstance(s, HangupState | TransferState)),
            self_service_steps(flow),
            {entry: frozenset(happy_chain(flow, entry)) for entry in main_paths(flow)},
        )
        if len(_SHAPES) > 32:
            _SHAPES.clear()
        _SHAPES[id(flow)] = (flow, shape)  # the flow is kept, so its id is not reused meanwhile
        return shape


_SHAPES: dict[int, tuple[Flow, FlowShape]] = {}


class _Counts:
    def __init__(self, session: CallSession, language: str, direction: str, zone: tzinfo) -> None:
        day, quarter = local_day(session.started_at, zone), int(session.started_at // QUARTER)
        self.call = (day, quarter, session.flow, session.flow_version, language, direction)
        self.out: list[Count] = []

    def add(self, metric: Metric, key: str = "", total: float = 0.0) -> None:
        self.out.append(Count(*self.call, metric, key, 1, total))


def _handoff(
    add: Callable[..., None], session: CallSession, queue: QueueVisit | None, voicemail: bool, ended: float
) -> None:
    if queue is None:
        if voicemail:
            result = HandoffResult.AFTER_HOURS
        elif session.outcome == "transferred":
            result = HandoffResult.DIALLED
        else:
            result = HandoffResult.NO_AGENT
        add(Metric.HANDOFF_RESULT, result.value)
        return
    if queue.bridged_at is not None:
        result, left = HandoffResult.ANSWERED, queue.bridged_at
    elif queue.state == "callback":
        result, left = HandoffResult.CALLBACK, queue.ended_at or ended
    elif queue.state == "voicemail":
        result, left = HandoffResult.VOICEMAIL, queue.ended_at or ended
    else:  # abandoned, or still waiting when the call ended: the caller hung up
        result, left = HandoffResult.ABANDONED, queue.ended_at or ended
    waited = max(0.0, left - queue.enqueued_at)
    add(Metric.HANDOFF_RESULT, result.value, total=waited)
    add(Metric.QUEUE_WAIT, session.call_sid, total=waited)


def _last_step(session: CallSession, shape: FlowShape) -> str:
    """Where an unresolved call was left: its last state that is not an ending (a goodbye
    after silence belongs to the menu that went unanswered)."""
    for state in reversed(session.path):
        if state not in shape.endings:
            return state
    return session.state


def _path(add: Callable[..., None], session: CallSession, shape: FlowShape) -> None:
    menu, entries = shape.menu, shape.entries
    if menu is None or menu not in session.path:
        return
    start = session.path.index(menu)
    taken = next((i for i in range(start, len(session.path)) if session.path[i] in entries), None)
    if taken is None:
        return
    path = session.path[taken]
    add(Metric.PATH, path)
    steps = shape.funnels.get(path, frozenset())
    for state in dict.fromkeys(s for s in session.path[taken:] if s in steps):
        add(Metric.PATH_STEP, f"{path}\t{state}")
    answers = shape.answers
    times = session.path_at
    for i in range(taken, len(session.path)):
        if session.path[i] in answers:
            if i < len(times) and times[i] >= 0:
                add(Metric.ANSWERED, path, total=times[i])
            return
