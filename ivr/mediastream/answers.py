"""Whether the words heard so far already answer the question: the endpointer's short pause.

A caller who says "yes", a menu word or the last digit of a number of the length asked
for has finished; waiting the long pause after that (the one that lets "four five …
one two" go on) is what makes a line feel slow. A caller who has said "four five" of a
four-digit number, or "forty" (which may become "forty-five"), has not. This module
decides which is which from the recogniser's partial results and the question, in the
question's language, and nothing else: a wrong "complete" cuts a caller off, so every
doubt answers "not yet", and the long pause applies as before.

- A menu (or any question not asking for a number): the words are one phrase of the
  question's grammar, and no longer phrase of it begins with them ("no" is complete
  unless "no thanks" is also a phrase).
- A number: the digits read (as the flow engine reads them,
  `ivr.speech.number_words.reading`) are as many as the question takes at most, or are one
  of the numbers the caller is known to have (their own orders,
  `FlowEngine.expected_answers`) and no other of them begins with them. Either way the
  number must also be closed: one more digit word would add a digit rather than merge
  into the last ("forty" + "one" is 41, still two digits).
- An agent's name ("agent") is complete anywhere; it ends every question.

Words outside the grammar (`[unk]`) are never complete: the caller said something the
question did not expect, which is worth hearing to its end.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from ivr.flow.steps import Gather
from ivr.speech.asr import UNKNOWN_WORD
from ivr.speech.number_words import NumberReading, reading


class AnswerShape:
    """What a complete answer to one question looks like; built when the question is asked."""

    def __init__(
        self,
        gather: Gather,
        grammar: Sequence[str],
        agent_words: Collection[str],
        expected: Collection[str] = (),
    ) -> None:
        self._gather = gather
        self._reading: NumberReading = reading(gather.language)
        self._phrases = frozenset(grammar)
        self._agent = frozenset(" ".join(word.split()) for word in agent_words)
        # Phrases that something longer in the grammar begins with: the answer may go on.
        self._open = frozenset(
            " ".join(words[:end])
            for words in (phrase.split() for phrase in grammar)
            for end in range(1, len(words))
        )
        self._expected = frozenset(expected)
        self._one = next((word for word, key in self._reading.key_words.items() if key == "1"), "")

    def complete(self, text: str) -> bool:
        """Whether `text` (the utterance so far) already answers the question in full."""
        said = " ".join(text.split())
        if not said or UNKNOWN_WORD in said:
            return False
        if said in self._agent:
            return True
        if not self._gather.digits:
            return said in self._phrases and said not in self._open
        digits = self._reading.spoken_digits(said)
        if not digits or not self._closed(said, digits):
            return False
        if len(digits) >= self._gather.max_digits:
            return True
        return digits in self._expected and not any(
            other != digits and other.startswith(digits) for other in self._expected
        )

    def _closed(self, said: str, digits: str) -> bool:
        """One more digit word adds one digit: the last number word cannot grow ("forty", "hundred")."""
        if not self._one:
            return False
        return len(self._reading.spoken_digits(f"{said} {self._one}")) == len(digits) + 1
