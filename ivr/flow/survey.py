"""The one-question survey at the end of an inbound call the line resolved itself.

Turned on with IVR_INBOUND_SURVEY=on. Just before the goodbye of a call that ends `resolved`
(never handed to a person), the caller is asked to stay on for one question: how happy they
are with the call, 1 to 5, keyed or said, in the call's language. A score is stored at once
(a caller who hangs up after keying it still counts); anything else is asked once more, then
thanked and the call ends as it would have. The call's outcome stays `resolved` whatever
happens: the question is asked after the line did its work.

Pure but for the `SurveyRecorder` it writes through; the engine runs it like the language
choice, outside the flow's own states, so a flow needs no change for it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from ivr.locales import SURVEY_ASK, SURVEY_NOT_A_SCORE, SURVEY_THANKS

SURVEY = "survey#asked"
"""Present in `CallSession.attempts` while the caller is at the question: the answers that
were not a score."""
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
