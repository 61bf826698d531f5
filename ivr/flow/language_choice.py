"""The language choice and the language offer: side questions about the call's language.

On a shared number the line greets first, then offers each language in itself ("For
English, say English or press 1. Für Deutsch sagen Sie Deutsch oder drücken Sie die 2.").
An answer in any of the line's languages chooses: a key, a language's name, or a request
said in it ("wo bleibt meine Bestellung" is German, and is then taken as the request). On a
number with a language of its own, a caller whose words the line did not understand but
which are plainly another served language is offered that language, in it, once a call.

Which language a sentence is: the words only one of the line's languages uses (taken from
its prompts and its intents' phrases), counted. Pure but for the caller-language store the
choice is remembered in; the engine goes on from what `Reply` says.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from datetime import date

from ivr.flow.dialogs import Asking, Reply
from ivr.flow.matching import says_only
from ivr.flow.steps import Digits, Event, Gather, Resume, Say, Speech, Step
from ivr.languages import LanguagePlan
from ivr.locales import CHOICE_TEXTS, NO_WORDS, OFFER_TEXTS, YES_WORDS
from ivr.locales import LANGUAGE_NAMES as NAMES
from ivr.prompts import PromptCatalog
from ivr.store.caller_languages import CallerLanguages

CHOICE = "language"
"""`CallSession.dialog` while the caller is at the language choice."""
OFFER = "language:"
"""`CallSession.dialog` prefix while the caller is offered a language (`language:de`)."""
CHOICE_RETRIES = 2
"""The language choice is asked again this often; then the call goes on in the default language."""
CHOICE_TIMEOUT = 5
"""Seconds of silence after the language choice before it counts as unanswered."""
OFFER_AFTER = 2
"""Words only the other language uses before the line offers it (one is a name or a loan)."""

_WORDS = re.compile(r"[^\W\d_]+")


def vocabulary(catalog: PromptCatalog, phrases: Iterable[str]) -> frozenset[str]:
    """The words a language's line uses: its prompts and its intents' training phrases."""
    words = {w for text in catalog.static_texts() for w in _WORDS.findall(text.lower())}
    words |= {w for phrase in phrases for w in _WORDS.findall(phrase.lower())}
    words |= set(NAMES.get(catalog.language[:2], ()))
    return frozenset(words)


def spoken_language(text: str, vocabularies: Mapping[str, frozenset[str]], *, least: int = 1) -> str | None:
    """The language a sentence is in, of those in `vocabularies`: the one with the most words
    no other uses, at least `least`, and more than any other; None when it is not plain."""
    return _plainly(text, _own_words(vocabularies), least)


def _own_words(vocabularies: Mapping[str, frozenset[str]]) -> dict[str, frozenset[str]]:
    """Each language's words that no other of them uses."""
    codes = list(vocabularies)
    return {
        code: vocabularies[code] - frozenset().union(*(vocabularies[o] for o in codes if o != code))
        for code in codes
    }


def _plainly(text: str, own: Mapping[str, frozenset[str]], least: int) -> str | None:
    words = _WORDS.findall(text.lower())
    counts = sorted(((sum(w in mine for w in words), code) for code, mine in own.items()), reverse=True)
    if not counts or counts[0][0] < least or (len(counts) > 1 and counts[1][0] == counts[0][0]):
        return None
    return counts[0][1]


class LanguageChoice:
    """Asks which language a call speaks, and offers a language a caller turns out to speak."""

    def __init__(
        self,
        plan: LanguagePlan,
        catalogs: Mapping[str, PromptCatalog],
        vocabularies: Mapping[str, frozenset[str]],
        today: Callable[[], date],
        remembered: CallerLanguages | None = None,
    ) -> None:
        self.plan = plan
        self.catalogs = catalogs
        self.today = today
        self.remembered = remembered
        """Where a caller's choice is kept for their next call (None: nowhere)."""
        self._own = _own_words({code: vocabularies[code] for code in plan.served if code in vocabularies})
        """Each language's words that no other served language uses."""

    def spoken(self, text: str, *, least: int = 1) -> str | None:
        """The served language a sentence is in: the one with the most words of its own, at
        least `least`, and more than any other; None when it is not plain."""
        return _plainly(text, self._own, least)

    # --- the choice, on a shared number ---------------------------------------------------------

    def ask(self, call: Asking) -> list[Step]:
        """Each language offered in itself (after the greeting, when the call starts)."""
        call.session.dialog = CHOICE
        steps: list[Step] = []
        for code in self.plan.served:
            text = self._in(code, "language_choice", CHOICE_TEXTS, {"key": self.plan.key_of(code)})
            steps.append(Say(text, True, code))
            call.note("bot", text)
        steps.append(
            Gather(
                digits=False,
                timeout=CHOICE_TIMEOUT,
                max_digits=1,
                finish_on_key="",
                speech=True,
                hints=self.plan.hints(),
                language=self.plan.default,
            )
        )
        return steps

    async def choose(self, call: Asking, event: Event) -> Reply:
        """A key, a language's name, or a sentence in a language picks it; a sentence that is
        more than the name comes back as the request. Unanswered twice: the call's language."""
        session = call.session
        if isinstance(event, Resume):
            return Reply(self.ask(call))
        picked, said = None, ""
        if isinstance(event, Digits):
            picked = self.plan.chosen(key=event.digits[:1])
        elif isinstance(event, Speech):
            picked = self.plan.chosen(said=event.text)
            if picked is None:
                picked = self.spoken(event.text)
                said = event.text if picked is not None else ""
        if picked is None:
            if session.dialog_tries < CHOICE_RETRIES:
                session.dialog_tries += 1
                return Reply(self.ask(call))
            picked = call.language
        elif self.remembered is not None:
            await self.remembered.remember(session.caller, picked)
        session.dialog, session.dialog_tries = "", 0
        return Reply(done=True, language=picked, said=said)

    # --- the offer, on a number of another language -------------------------------------------

    def offers(self, call: Asking, text: str) -> str | None:
        """The language to offer a caller whose words were not understood: another served
        language they plainly speak, not offered before in this call."""
        if not self.plan.several:
            return None
        spoken = self.spoken(text, least=OFFER_AFTER)
        if spoken is None or spoken == call.language or spoken in call.session.offered:
            return None
        return spoken

    def offer(self, call: Asking, language: str, said: str = "") -> list[Step]:
        """ "Möchten Sie lieber auf Deutsch weitermachen?", in the language offered."""
        session = call.session
        if said:
            session.offered.append(language)
            session.dialog_said = said
        session.dialog = OFFER + language
        text = self._in(language, "language_offer", OFFER_TEXTS, {})
        call.note("bot", text)
        yes_no = YES_WORDS.get(language, YES_WORDS["en"])[:2] + NO_WORDS.get(language, NO_WORDS["en"])[:2]
        return [
            Say(text, True, language),
            Gather(
                digits=False,
                timeout=CHOICE_TIMEOUT,
                max_digits=1,
                finish_on_key="",
                speech=True,
                hints=yes_no,
                language=language,
            ),
        ]

    async def answer_offer(self, call: Asking, event: Event) -> Reply:
        """Yes (or 1): the call goes on in that language, with the request taken again in it.
        Anything else: it goes on as it was (a new answer is taken as an answer)."""
        session = call.session
        language = session.dialog[len(OFFER) :]
        if isinstance(event, Resume):
            return Reply(self.offer(call, language))
        said, session.dialog_said = session.dialog_said, ""
        session.dialog, session.dialog_tries = "", 0
        if isinstance(event, Digits):
            yes = event.digits[:1] == "1"
        elif isinstance(event, Speech):
            yes = says_only(event.text, YES_WORDS.get(language, YES_WORDS["en"]), language)
            if not yes and not says_only(event.text, NO_WORDS.get(language, NO_WORDS["en"]), language):
                said = event.text  # not an answer to the offer: an answer to the question
                return Reply(done=True, said=said)
        else:
            yes = False
        if not yes:
            return Reply(done=True)
        if self.remembered is not None:
            await self.remembered.remember(session.caller, language)
        return Reply(done=True, language=language, said=said)

    def _in(self, language: str, prompt_id: str, builtin: Mapping[str, str], values: dict[str, str]) -> str:
        """A sentence in `language`: its prompts file's own wording, else built in."""
        catalog = self.catalogs.get(language)
        if catalog is not None and catalog.has(prompt_id):
            return catalog.render(prompt_id, values, self.today())
        return builtin.get(language, f"{language}: {{key}}").format(**values)
