"""The one-question survey at the end of an inbound call the line resolved itself.

Turned on with IVR_INBOUND_SURVEY=on. Just before the goodbye of a call that ends `resolved`
(never handed to a person), the caller is asked to stay on for one question: how happy they
are with the call, 1 to 5, keyed or said, in the call's language. A score is stored at once
(a caller who hangs up after keying it still counts); anything else is asked once more, then
thanked and the call ends as it would have. The call's outcome stays `resolved` whatever
happens: the question is asked after the line did its work.

A side question (`ivr.flow.dialogs`): pure but for the `SurveyRecorder` it writes through;
the engine asks it outside the flow's own states, so a flow needs no change for it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Protocol

from ivr.flow.dialogs import NEGATIVE, Asking, Reply
from ivr.flow.steps import Digits, Event, Gather, Resume, Say, Speech, Step
from ivr.locales import SURVEY_ASK, SURVEY_NOT_A_SCORE, SURVEY_THANKS
from ivr.session import CallSession
from ivr.speech.number_words import reading

log = logging.getLogger(__name__)

NAME = "survey"
"""`CallSession.dialog` while the caller is at the question."""
SURVEYED_OUTCOME = "resolved"
"""The ending whose calls are surveyed: the line resolved it alone."""
REPROMPTS = 1
"""A non-score is asked again this often; then the caller is thanked and the call ends."""
TIMEOUT = 6
"""Seconds of silence after the question before it counts as no answer."""
SCORES = frozenset("12345")

ASK, NOT_A_SCORE, THANKS = "survey_ask", "survey_not_a_score", "survey_thanks"
"""Prompt ids a prompts file may define to word the survey its own way."""

TEXTS: Mapping[str, Mapping[str, str]] = {
    ASK: SURVEY_ASK,
    NOT_A_SCORE: SURVEY_NOT_A_SCORE,
    THANKS: SURVEY_THANKS,
}
"""The built-in wording in each shipped language (English for any other)."""


class SurveyRecorder(Protocol):
    """Where a caller's score is kept with the call (the `survey_answers` the insights read)."""

    async def record(self, call_sid: str, score: int) -> None: ...


def builtin(prompt_id: str, language: str) -> str:
    texts = TEXTS[prompt_id]
    return texts.get(language, texts["en"])


def score_of(answer: str) -> int | None:
    """A score from what was keyed or read out of the words ("4", "five" → "5"); None otherwise."""
    answer = answer.strip()
    return int(answer) if len(answer) == 1 and answer in SCORES else None


class InboundSurvey:
    """The end-of-call question as a side question: asked, answered, thanked."""

    def __init__(self, recorder: SurveyRecorder | None) -> None:
        self.recorder = recorder
        """Where scores go; None: the line does not ask (an answer still ends the question)."""

    def asks(self, session: CallSession, outcome: str, *, outbound: bool) -> bool:
        """Whether an ending with this outcome asks first: an inbound call the line resolved alone."""
        return (
            self.recorder is not None
            and not outbound  # campaign calls have their own question
            and outcome == SURVEYED_OUTCOME
            and not session.transfer_reason
        )

    def ask(self, call: Asking, *, again: bool = False) -> list[Step]:
        call.session.dialog = NAME
        steps: list[Step] = []
        if again:
            self._say(call, steps, NOT_A_SCORE, True)
        self._say(call, steps, ASK, True)
        steps.append(
            Gather(
                digits=True,
                timeout=TIMEOUT,
                max_digits=1,
                finish_on_key="",
                speech=True,
                language=call.language,
            )
        )
        return steps

    async def answer(self, call: Asking, event: Event) -> Reply:
        """A score is kept and thanked; anything else is asked once more, then the question ends.
        Either way the ending's own goodbye follows (the engine's)."""
        session = call.session
        if isinstance(event, Resume):  # a media stream reconnected mid-question
            return Reply(self.ask(call))
        score = None
        if isinstance(event, Digits):
            score = score_of(event.digits)
        elif isinstance(event, Speech) and not NEGATIVE.search(event.text):
            score = score_of(reading(call.language).spoken_digits(event.text))
        steps: list[Step] = []
        if score is None:
            if session.dialog_tries < REPROMPTS:
                session.dialog_tries += 1
                return Reply(self.ask(call, again=True))
            call.note("flow", "survey: no score")
        else:
            if self.recorder is not None:
                await self.recorder.record(session.call_sid, score)
            else:  # asked by an instance with the survey on, answered on one with it off
                log.warning("survey_off: call %s: score %s not kept", session.call_sid, score)
            call.note("flow", f"survey: {score}")
            self._say(call, steps, THANKS, False)
        session.dialog, session.dialog_tries = "", 0
        return Reply(steps, done=True)

    @staticmethod
    def _say(call: Asking, steps: list[Step], prompt_id: str, interruptible: bool) -> None:
        text = call.text(prompt_id, builtin(prompt_id, call.language), dict(call.session.vars))
        steps.append(Say(text, interruptible, call.session.language))
        call.note("bot", text)
