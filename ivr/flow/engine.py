"""Run a call through a flow, one turn at a time.

A turn takes the caller's input (or the start of the call), fires one trigger on the
flow's machine, then runs automatic states (prompts, lookups) until the flow waits
for the caller again, hands off, or hangs up. The steps it emits are channel-neutral.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping
from datetime import date

from ivr.config import REPAIR_OPTIONS
from ivr.flow import machine as triggers
from ivr.flow import survey as inbound_survey
from ivr.flow.actions import (
    ACTIONS,
    EXPECTED_ANSWERS,
    ActionContext,
    Outreach,
    Pickup,
    ReturnWindow,
    TextMessages,
)
from ivr.flow.dialogs import NEGATIVE, Asking, Reply
from ivr.flow.guides import GuideBook
from ivr.flow.language_choice import CHOICE, OFFER, LanguageChoice, vocabulary
from ivr.flow.matching import (
    HIGH,
    IntentMatcher,
    choose,
    mentions,
    says_only,
)
from ivr.flow.opening import LINE_VARIABLES, AlwaysOpen, Opening, OpeningNow
from ivr.flow.schema import (
    ActionState,
    Flow,
    GatherState,
    HangupState,
    MenuState,
    SayState,
    State,
    TransferState,
)
from ivr.flow.steps import (
    MAX_SPEECH_CHARS,
    Digits,
    Event,
    Gather,
    Hangup,
    NoInput,
    Resume,
    Say,
    Speech,
    Start,
    Step,
    Transfer,
    TransferEnded,
    TransferResult,
)
from ivr.languages import SWITCH_KEY, LanguagePlan
from ivr.locales import AGENT_WORDS, MAIN_MENU_WORDS, NO_WORDS, SWITCH_TEXTS, YES_WORDS
from ivr.locales import KEY_NAMES as _KEY_NAMES
from ivr.locales import POLITE_WORDS as _POLITE
from ivr.locales import REPEAT_WORDS as REPEAT_WORDS_BY_LANGUAGE
from ivr.prompts import PromptCatalog
from ivr.session import CallSession, InputKind, InputResult, TranscriptEntry
from ivr.speech.number_words import reading
from ivr.store.base import Repository
from ivr.store.caller_languages import CallerLanguages
from ivr.store.repair_bookings import RepairBookings
from ivr.store.returns import Returns

_KEY, _SPEECH, _SILENCE = InputKind.KEY.value, InputKind.SPEECH.value, InputKind.SILENCE.value
_OK, _NO_MATCH, _NO_INPUT = InputResult.OK.value, InputResult.NO_MATCH.value, InputResult.NO_INPUT.value
"""How `inputs` notes an answer, as plain strings: read once, not through the enums each turn."""
log = logging.getLogger(__name__)

_NUMBER = re.compile(r"[0-9]+")
"""A keyed or spoken number: ASCII digits only (`str.isdigit` also takes `٤٥١٢`, `４５１２`)."""
INTENT_HINTS = 3
"""Phrases of each intent a menu sends as recogniser hints: the first ones its flow lists
(the shortest and likeliest, "order", "order status", "where is my order")."""
MAX_AUTOMATIC_STEPS = 40
"""A turn that runs more states than this without waiting is a flow bug, not a call."""
_VARIANT = re.compile(r"\{([a-z_][a-z0-9_]*)\}")
CONFIRM_TIMEOUT = 5
"""Seconds of silence after "Is this about …?" before it counts as unanswered."""
CONFIRMING = "confirm#"
"""`CallSession.attempts` holds CONFIRMING + an intent's name while the caller is asked
"Is this about …?" for it (the value is unused)."""
_UNSURE = "unsure:"
"""What `_interpret` returns for a request it is only fairly sure of: ask before going."""
_AGAIN = "again"
"""What `_confirmed` returns for "no": ask the question the caller was at once more."""
CONFIRM_PROMPT = "confirm_intent"
"""The prompts holding "Is this about …?", one per intent (`confirm_intent.returns`)."""


class FlowError(RuntimeError):
    """The flow cannot go on (a bug in flow data that validation could not see)."""

    code = "flow_error"


class FlowEngine:
    def __init__(
        self,
        flow: Flow,
        catalog: PromptCatalog,
        repository: Repository,
        *,
        clock: Callable[[], float] = time.time,
        today: Callable[[], date] = date.today,
        version: int = 0,
        outreach: Outreach | None = None,
        catalogs: Mapping[str, PromptCatalog] | None = None,
        languages: LanguagePlan | None = None,
        caller_languages: CallerLanguages | None = None,
        opening: Opening | None = None,
        pickup: Pickup | None = None,
        texts: TextMessages | None = None,
        survey: inbound_survey.SurveyRecorder | None = None,
        returns: Returns | None = None,
        return_window: ReturnWindow | None = None,
        guides: GuideBook | None = None,
        repairs: RepairBookings | None = None,
        repair_options: tuple[str, ...] | None = None,
    ) -> None:
        self.flow = flow
        self.guides = guides or GuideBook(default=catalog.language)
        """The troubleshooting guides the flow's guide actions walk (guides/*.yaml)."""
        self.repairs = repairs
        """Where the flow's repair actions book; None: no repair is booked."""
        self.repair_options = repair_options if repair_options is not None else REPAIR_OPTIONS
        self.returns = returns
        """Where the flow's return actions file returns; None: no return is started."""
        self.return_window = return_window or ReturnWindow()
        self.survey = inbound_survey.InboundSurvey(survey)
        """IVR_INBOUND_SURVEY: the end-of-call question (asked only with a recorder)."""
        self.outreach = outreach
        """The campaigns' effects (scores, texts, callbacks, opt-outs), on outbound lines only."""
        self.version = version
        """The published version this engine runs (0: not from the database); calls keep it."""
        self.catalog = catalog
        """The default language's prompts."""
        self.languages = languages or LanguagePlan((catalog.language,))
        self.catalogs: Mapping[str, PromptCatalog] = catalogs or {self.languages.default: catalog}
        """Every served language's prompts; a call speaks its own."""
        self.caller_languages = caller_languages
        """Where a caller number's language is remembered (None: nothing is remembered)."""
        self.repository = repository
        self.machine = triggers.FlowMachine(flow)
        self.intents = {code: IntentMatcher(flow.intents, code) for code in self.languages.served}
        """The flow's intents in each served language, compiled once per flow version."""
        words = {
            code: vocabulary(self.catalogs[code], self.intents[code].phrases)
            for code in self.languages.served
            if self.languages.several and code in self.catalogs
        }
        self.choice = LanguageChoice(self.languages, self.catalogs, words, today, caller_languages)
        """The language choice on a shared number, and the offer of a language a caller speaks."""
        self._closing = {
            name: frozenset(o.key for o in state.options if isinstance(flow.states[o.goto], HangupState))
            for name, state in flow.states.items()
            if isinstance(state, MenuState)
        }
        """Each menu's options that end the call: taken only when they are the whole answer."""
        self._hints_of: dict[tuple[str, str], tuple[str, ...]] = {}
        """Each menu's recogniser hints per language (see `_hints`)."""
        self.clock = clock
        self.today = today
        self.pickup = pickup or Pickup()
        self.texts = texts
        """None: the line has no Twilio REST credentials, so no text is offered."""
        self.opening: Opening = opening or AlwaysOpen()
        """Whether people are there: a hand-off while closed says no "please hold"."""

    def new_session(self, call_sid: str, caller: str, called: str) -> CallSession:
        return CallSession(
            call_sid=call_sid,
            caller=caller,
            called=called,
            flow=self.flow.name,
            flow_version=self.version,
            state=self.flow.start,
            started_at=self.clock(),
        )

    def end(self, session: CallSession, prompt: str, outcome: str, why: str) -> list[Step]:
        """End the call at this turn, whatever the caller answered: `prompt`, then hang up.

        For what the line learns between turns that the flow cannot know (a customer who opted
        out of campaign calls elsewhere while this one runs): a polite last sentence, never
        the next question."""
        self._note(session, "flow", f"ended: {why}")
        session.outcome = outcome
        steps: list[Step] = []
        self._say(session, steps, prompt, False)
        steps.append(Hangup())
        return steps

    async def handle(self, session: CallSession, event: Event) -> list[Step]:
        """Advance the call by one caller event; returns what the caller hears next."""
        steps: list[Step] = []
        if isinstance(event, Start):
            remembered = False
            if not session.language:
                picked, remembered = await self._language_for(session)
                if picked is None:
                    self._greet(session, steps)
                    return steps + self.choice.ask(self._asking(session))
                session.language = picked
                self._note(session, "flow", f"language: {picked}{' (remembered)' if remembered else ''}")
            else:  # decided before the call started (a campaign call speaks its customer's)
                self._note(session, "flow", f"language: {session.language}")
            await self._begin(session, steps)
            if remembered:
                self._offer_switch(session, steps)
            return steps
        if session.dialog:
            return await self._side(session, event)
        if isinstance(event, Speech) and len(event.text) > MAX_SPEECH_CHARS:
            event = Speech(event.text[:MAX_SPEECH_CHARS], event.confidence)  # any channel
        state = self.flow.states[session.state]
        if isinstance(event, Resume):
            pending = _confirming(session)
            if pending is not None and self._ask_to_confirm(session, steps, pending):
                return steps  # a media stream reconnected during "Is this about …?": asked again
            return await self._run(session, steps)
        hidden = isinstance(state, GatherState) and state.secret and isinstance(event, Digits | Speech)
        self._note(session, "caller", "keyed a value (hidden)" if hidden else _describe(event))
        if (
            isinstance(state, MenuState)
            and isinstance(event, Digits)
            and event.digits[:1] == SWITCH_KEY
            and self.languages.several
            and not state.repeat  # there star says the answer again
            and all(option.key != SWITCH_KEY for option in state.options)
            and _confirming(session) is None  # star answers "Is this about …?" (with neither)
        ):
            session.dialog_tries = 0
            return self.choice.ask(self._asking(session))
        if isinstance(state, MenuState | GatherState) and isinstance(event, Digits | Speech | NoInput):
            trigger = self._confirmed(session, event) or self._interpret(state, event, session)
            if trigger == _AGAIN:  # "no" to "Is this about …?": the question once more
                session.inputs.append([state.name, _KEY if isinstance(event, Digits) else _SPEECH, _OK])
                return await self._run(session, steps)
            if trigger.startswith(_UNSURE) and self._ask_to_confirm(session, steps, trigger[len(_UNSURE) :]):
                session.inputs.append([state.name, _SPEECH, _OK])
                return steps
            if trigger.startswith(_UNSURE):  # no question to ask it with: not understood
                trigger = triggers.NO_MATCH
            self._record_input(session, state, event, trigger)
            if trigger == triggers.NO_MATCH and isinstance(state, MenuState) and isinstance(event, Speech):
                spoken = self.choice.offers(self._asking(session), event.text)
                if spoken is not None:  # German words on the English number: offered German, in German
                    self._note(session, "flow", f"not understood; spoken in {spoken}?")
                    return self.choice.offer(self._asking(session), spoken, said=event.text)
            if trigger in (triggers.NO_INPUT, triggers.NO_MATCH):
                session.attempts[state.name] = session.attempts.get(state.name, 0) + 1
                if trigger == triggers.NO_MATCH:
                    key = triggers.misheard_key(state.name)
                    session.attempts[key] = session.attempts.get(key, 0) + 1
            self._fire(session, trigger)
            if isinstance(event, Speech) and session.state != state.name and trigger != triggers.INPUT:
                self._fill_from_request(session, event.text)
            if trigger in (triggers.NO_INPUT, triggers.NO_MATCH) and session.state == state.name:
                # "Sorry, I didn't catch that" only before asking again; when giving up,
                # the next state's own words say what happens.
                self._apologise(session, steps, state, event, trigger)
        elif isinstance(state, TransferState) and isinstance(event, TransferEnded):
            if event.result is TransferResult.CONNECTED:
                session.outcome = "transferred"
                return [Hangup()]
            self._fire(session, triggers.TRANSFER_FAILED)
        elif isinstance(state, HangupState):
            return [Hangup()]
        # Anything else (a stale or out-of-order webhook) repeats where the call stands.
        return await self._run(session, steps)

    async def _begin(
        self, session: CallSession, steps: list[Step], *, greeted: bool = False, ask: bool = True
    ) -> list[Step]:
        """Start the flow. `greeted`: the start's greeting was said already (before the
        language choice, in this language); `ask` False: stop at the first question unasked
        (a request the caller already made answers it)."""
        session.state = self.flow.start
        session.visits[self.flow.start] = 1
        before = len(session.path)
        session.path.append(self.flow.start)
        self._stamp(session, before)
        return await self._run(session, steps, greeted=greeted, ask=ask)

    def _greeting(self) -> SayState | None:
        """The flow's opening words, said before the language choice: its start when that is
        a plain greeting (one that reads no hours)."""
        start = self.flow.states[self.flow.start]
        if not isinstance(start, SayState):
            return None
        if any(self.catalog.templates[p].variables for p in start.prompts if self.catalog.has(p)):
            return None
        return start

    def _greet(self, session: CallSession, steps: list[Step]) -> None:
        greeting = self._greeting()
        if greeting is not None:
            for prompt in greeting.prompts:
                self._say(session, steps, prompt, greeting.interruptible)

    def _asking(self, session: CallSession) -> Asking:
        """The call as a side question sees it."""
        return Asking(
            session,
            self.language(session),
            self._catalog(session),
            self.today(),
            lambda who, text: self._note(session, who, text),
        )

    async def _side(self, session: CallSession, event: Event) -> list[Step]:
        """A caller event while a side question is asked: the question takes it, and when it
        is over the call goes on from where it was (or begins)."""
        call = self._asking(session)
        if not isinstance(event, Resume):
            self._note(session, "caller", _describe(event))
        if session.dialog == inbound_survey.NAME:
            reply = await self.survey.answer(call, event)
            return reply.steps if not reply.done else await self._after_survey(session, reply.steps)
        if session.dialog == CHOICE:
            reply = await self.choice.choose(call, event)
        elif session.dialog.startswith(OFFER):
            reply = await self.choice.answer_offer(call, event)
        else:  # written by a newer release: its question cannot be asked here
            log.warning("dialog_unknown: %s (call %s)", session.dialog, session.call_sid)
            session.dialog, session.dialog_tries = "", 0
            reply = Reply(done=True)
        if not reply.done:
            return reply.steps
        return await self._go_on(session, reply)

    async def _go_on(self, session: CallSession, reply: Reply) -> list[Step]:
        """After a language question: the call in its language, from its start or where it
        was; a request the caller made in the answer is taken as said to the question."""
        steps = list(reply.steps)
        if reply.language:
            changed = reply.language != session.language
            session.language = reply.language
            if changed or not session.path:
                self._note(session, "flow", f"language: {reply.language}")
        if not session.path:
            greeted = self._greeting() is not None and self.language(session) == self.languages.default
            await self._begin(session, steps, greeted=greeted, ask=not reply.said)
            if not reply.said:
                return steps
        elif not reply.said:
            return await self._run(session, steps)
        if isinstance(self.flow.states[session.state], MenuState | GatherState):
            return steps + await self.handle(session, Speech(reply.said))
        return steps

    def language(self, session: CallSession) -> str:
        """The language a call speaks (the default until it is decided)."""
        return session.language or self.languages.default

    def _own_language(self, session: CallSession) -> str:
        """The call's language if it is not the line's default, else '': the data's own words
        (a product's name) are in the default language, others need their own."""
        language = self.language(session)
        return "" if language == self.languages.default else language

    def _catalog(self, session: CallSession) -> PromptCatalog:
        return self.catalogs.get(self.language(session), self.catalog)

    async def _language_for(self, session: CallSession) -> tuple[str | None, bool]:
        """The called number's language, else the caller's remembered one (True), else None:
        the caller chooses."""
        own = self.languages.for_number(session.called)
        if own is not None:
            return own, False
        if self.caller_languages is not None:
            known = await self.caller_languages.language(session.caller)
            if known in self.languages.served:
                return known, True
        return None, False

    def _prompt_in(self, language: str, prompt_id: str, builtin: Mapping[str, str], key: str) -> str:
        """A language-choice sentence in `language`: its prompts file's own wording, else built in."""
        catalog = self.catalogs.get(language)
        if catalog is not None and catalog.has(prompt_id):
            return catalog.render(prompt_id, {"key": key}, self.today())
        return builtin.get(language, f"{language}: {{key}}").format(key=key)

    def _offer_switch(self, session: CallSession, steps: list[Step]) -> None:
        """A caller greeted in a remembered language hears, in each other language, the key
        that changes it, just before the first question."""
        if not steps or not isinstance(steps[-1], Gather) or steps[-1].digits:
            return
        offers = []
        for code in self.languages.served:
            if code != session.language:
                text = self._prompt_in(code, "language_switch", SWITCH_TEXTS, SWITCH_KEY)
                offers.append(Say(text, True, code))
                self._note(session, "bot", text)
        steps[-1:-1] = offers

    def _hints(self, state: MenuState, language: str) -> tuple[str, ...]:
        """The phrases a menu gives the recogniser, in `language`: its options' words, the
        agent's, each intent's first few and "repeat", each once: a few dozen, sent with
        every question (all the intents' phrases were a few hundred, 2.3 KB on every menu).
        Worked out once per menu and language (this engine's flow never changes)."""
        key = (state.name, language)
        known = self._hints_of.get(key)
        if known is not None:
            return known
        hints = tuple(w for option in state.options for w in option.words_in(language))
        if state.agent:
            hints += self.agent_words(language)[:2]
        if state.intents and language in self.intents:
            hints += tuple(
                p for i in self.intents[language].intents for p in i.phrases[language][:INTENT_HINTS]
            )
        if state.repeat:
            hints += _repeat_words(language)[:1]
        unique = self._hints_of[key] = tuple(dict.fromkeys(hints))
        return unique

    def _phrases(self, state: MenuState, language: str) -> tuple[str, ...]:
        """Every intent phrase a menu understands: a local recogniser's grammar must list
        them all (it hears nothing else), where Twilio's recogniser only needs hints."""
        if state.intents and language in self.intents:
            return self.intents[language].phrases
        return ()

    def _leaving_hints(self, language: str) -> tuple[str, ...]:
        """What a number question hears besides the number: "main menu" and "repeat" (a new
        request too, with Twilio's recogniser; local speech listens for these words only)."""
        words = MAIN_MENU_WORDS.get(language, ()) if self.flow.main_menu else ()
        return (*words, *_repeat_words(language)[:2])

    async def expected_answers(self, session: CallSession) -> frozenset[str]:
        """Numbers the caller is known to have for the question the call is at (their own orders).

        A media stream ends an answer that is one of them after a short pause instead of the
        long one; asked only there, so TwiML turns never pay for the query."""
        state = self.flow.states.get(session.state)
        if not isinstance(state, GatherState):
            return frozenset()
        after = self.flow.states.get(state.next)
        if not isinstance(after, ActionState) or after.action not in EXPECTED_ANSWERS:
            return frozenset()
        caller = session.caller.strip()
        if not caller.startswith("+"):  # withheld: nothing is on file for it
            return frozenset()
        return await EXPECTED_ANSWERS[after.action](self.repository, caller)

    def agent_words(self, language: str) -> tuple[str, ...]:
        """What asks for a person in `language`: the flow's words and the language's own."""
        return self.flow.agent_words + AGENT_WORDS.get(language, ())

    def _interpret(
        self, state: MenuState | GatherState, event: Digits | Speech | NoInput, session: CallSession
    ) -> str:
        """The trigger a caller's answer fires in a waiting state (saving a collected number)."""
        if isinstance(event, NoInput):
            return triggers.NO_INPUT
        language = self.language(session)
        if isinstance(event, Speech) and state.agent and mentions(event.text, self.agent_words(language)):
            return triggers.AGENT
        if isinstance(state, MenuState):
            if state.repeat and _asks_to_repeat(event, language):
                return triggers.REPEAT
            if isinstance(event, Digits):
                key: str | None = event.digits[:1]
            elif self._to_main_menu(state, event.text, language):
                return triggers.MAIN_MENU
            else:
                picked = choose(
                    state, event.text, self.intents.get(language), language, self._closing[state.name]
                )
                if picked.intent is not None:
                    if picked.intent.confidence >= HIGH:
                        return triggers.intent_trigger(picked.intent.intent)
                    return _UNSURE + picked.intent.intent
                key = picked.key
            if key == "0" and state.agent:
                return triggers.AGENT
            if key and any(option.key == key for option in state.options):
                return triggers.option_trigger(key)
            return self._leaving(state, event, language)
        if isinstance(event, Speech) and NEGATIVE.search(event.text):
            return self._leaving(state, event, language)  # "minus one" is no number
        raw = event.digits if isinstance(event, Digits) else reading(language).spoken_digits(event.text)
        value = raw.rstrip(state.finish_on_key) if state.finish_on_key else raw
        if value == "0" and state.agent and state.min_digits > 1:
            return triggers.AGENT
        if _NUMBER.fullmatch(value) and state.min_digits <= len(value) <= state.max_digits:
            session.vars[state.save_as] = value
            return triggers.INPUT
        if isinstance(event, Digits) and value != "*":
            return triggers.NO_MATCH
        return self._leaving(state, event, language)

    def _to_main_menu(self, state: MenuState, text: str, language: str) -> bool:
        """ "Back to the main menu" where a menu offers "back" itself (a guide's step before):
        the menu's own word alone is its option, more than that the main menu."""
        leave = MAIN_MENU_WORDS.get(language, ())
        own = [phrase for option in state.options for phrase in option.words_in(language)]
        return (
            bool(self.flow.main_menu)
            and state.name != self.flow.main_menu
            and says_only(text, leave, language)
            and any(mentions(text, (phrase,)) for phrase in own)
            and not says_only(text, own, language)
        )

    def _leaving(self, state: MenuState | GatherState, event: Digits | Speech, language: str) -> str:
        """Every question can be left, whatever it asks: `*` or "repeat" asks it again, "main
        menu" or "go back" goes to the flow's main menu, and a request the line is sure of
        (not the one that asked this question) goes to its answer. Else: not understood."""
        if _asks_to_repeat(event, language):
            return triggers.REPEAT
        if not isinstance(event, Speech):
            return triggers.NO_MATCH
        if self.flow.main_menu and says_only(event.text, MAIN_MENU_WORDS.get(language, ()), language):
            return triggers.MAIN_MENU
        matcher = self.intents.get(language)
        found = matcher.match(event.text) if matcher is not None else None
        if found is not None and found.confidence >= HIGH and found.goto != state.name:
            return triggers.intent_trigger(found.intent)
        return triggers.NO_MATCH

    def _confirmed(self, session: CallSession, event: Digits | Speech | NoInput) -> str:
        """The answer to "Is this about …?": yes (or 1) goes there; no (or 2) asks the question
        again, as if nothing had been said; anything else is taken as an answer to the question
        itself. '' when nothing was being confirmed, or the answer is for the question."""
        pending = _confirming(session)
        if pending is None:
            return ""
        del session.attempts[CONFIRMING + pending]
        language = self.language(session)
        if isinstance(event, Digits):
            yes, no = event.digits[:1] == "1", event.digits[:1] == "2"
        elif isinstance(event, Speech):
            yes = says_only(event.text, YES_WORDS.get(language, YES_WORDS["en"]), language)
            no = says_only(event.text, NO_WORDS.get(language, NO_WORDS["en"]), language)
        else:
            return ""
        if yes:
            return triggers.intent_trigger(pending)
        if no:
            self._note(session, "flow", f"not {pending}: the question again")
            return _AGAIN
        return ""

    def _ask_to_confirm(self, session: CallSession, steps: list[Step], intent: str) -> bool:
        """Ask "Is this about …?" for a request the line is only fairly sure of (False: the
        flow's prompts have no such question for this intent)."""
        prompt = f"{CONFIRM_PROMPT}.{intent}"
        if not self._catalog(session).has(prompt):
            return False
        session.attempts[CONFIRMING + intent] = 0
        self._note(session, "flow", f"unsure: {intent}?")
        self._say(session, steps, prompt, True)
        language = self.language(session)
        yes_no = YES_WORDS.get(language, YES_WORDS["en"])[:2] + NO_WORDS.get(language, NO_WORDS["en"])[:2]
        steps.append(
            Gather(
                digits=False,
                timeout=CONFIRM_TIMEOUT,
                max_digits=1,
                finish_on_key="",
                speech=True,
                hints=yes_no,
                language=language,
            )
        )
        return True

    def _fill_from_request(self, session: CallSession, text: str) -> None:
        """A number said with the request that led to a number question answers it: "my order
        4512 hasn't come" goes on to the lookup without asking for the order number."""
        state = self.flow.states[session.state]
        if not isinstance(state, GatherState) or state.secret:
            return
        value = _number_in(text, self.language(session), state)
        if value:
            session.vars[state.save_as] = value
            self._note(session, "flow", f"{state.save_as} from the request: {value}")
            self._fire(session, triggers.INPUT)

    def _apologise(
        self,
        session: CallSession,
        steps: list[Step],
        state: MenuState | GatherState,
        event: Digits | Speech | NoInput,
        trigger: str,
    ) -> None:
        """What went wrong, in words that help: the key that is not on offer, how long the
        number should be, or that nothing was heard or understood."""
        retry = state.retry
        values: dict[str, str] = {}
        prompt = retry.no_input_prompt if trigger == triggers.NO_INPUT else retry.no_match_prompt
        if isinstance(event, Digits) and event.digits:
            if isinstance(state, MenuState) and retry.wrong_key_prompt:
                prompt, values = (
                    retry.wrong_key_prompt,
                    {"key": _key_name(event.digits[:1], self.language(session))},
                )
            elif isinstance(state, GatherState) and retry.too_short_prompt:
                value = event.digits.rstrip(state.finish_on_key) if state.finish_on_key else event.digits
                if _NUMBER.fullmatch(value) and len(value) < state.min_digits:
                    prompt = retry.too_short_prompt
                    values = {"min_digits": str(state.min_digits), "max_digits": str(state.max_digits)}
        self._say(session, steps, prompt, interruptible=True, extra=values)

    def _fire(self, session: CallSession, trigger: str) -> None:
        before, steps_before = session.state, len(session.path)
        if not self.machine.fire(session, trigger):
            raise FlowError(f"state '{before}' has no way out on '{trigger}'")
        self._stamp(session, steps_before)

    def _elapsed(self, session: CallSession) -> float:
        """Seconds since the call started, to the millisecond (path times, transcript lines:
        several a turn). Not `round(x, 3)`, which formats the number as text and parses it
        back; this gives the same float for less."""
        return round((self.clock() - session.started_at) * 1000) / 1000

    def _stamp(self, session: CallSession, known: int) -> None:
        """Time the path entries after the first `known` (those just entered).

        A session saved before times were kept has none for its earlier entries: they are
        -1 (unknown), so the times stay aligned with `path`."""
        times = session.path_at
        if len(times) != known:
            times[known:] = []
            times.extend([-1.0] * (known - len(times)))
        at = self._elapsed(session)
        entered = len(session.path) - known
        if entered == 1:  # nearly always: one state a transition
            times.append(at)
        else:
            times.extend([at] * entered)

    @staticmethod
    def _record_input(
        session: CallSession, state: MenuState | GatherState, event: Digits | Speech | NoInput, trigger: str
    ) -> None:
        """Note how the caller answered and whether it was understood (for the insights)."""
        if trigger == triggers.NO_INPUT:
            session.inputs.append([state.name, _SILENCE, _NO_INPUT])
            return
        kind = _KEY if isinstance(event, Digits) else _SPEECH
        if trigger == triggers.NO_MATCH:
            if isinstance(state, MenuState) and isinstance(event, Speech):
                session.misheard.append([state.name, event.text])
            session.inputs.append([state.name, kind, _NO_MATCH])
        else:
            session.inputs.append([state.name, kind, _OK])

    async def _run(
        self, session: CallSession, steps: list[Step], *, greeted: bool = False, ask: bool = True
    ) -> list[Step]:
        """Run automatic states until the call waits, leaves or ends. `greeted`: skip the start's
        greeting (said already); `ask` False: stop at a question without asking it."""
        line: OpeningNow | None = None  # read at most once a turn, and only when needed

        async def opening() -> OpeningNow:
            nonlocal line
            line = line or await self.opening.now(
                self._catalog(session).say_language, session.called, session.caller
            )
            return line

        for _ in range(MAX_AUTOMATIC_STEPS):
            state = self.flow.states[session.state]
            extra = (await opening()).values() if self._mentions_hours(session, state) else {}
            match state:
                case SayState():
                    if not (greeted and state.name == self.flow.start):
                        for prompt in state.prompts:
                            self._say(session, steps, prompt, state.interruptible, extra)
                    self._fire(session, triggers.NEXT)
                case ActionState():
                    action = ACTIONS[state.action]
                    context = ActionContext(
                        session,
                        self.repository,
                        self.today(),
                        self.pickup,
                        self.texts,
                        render=lambda prompt_id: self._render(session, prompt_id),
                        note=lambda text: self._note(session, "flow", text),
                        outreach=self.outreach,
                        language=self._own_language(session),
                        returns=self.returns,
                        return_window=self.return_window,
                        guides=self.guides,
                        said=self._last_answer(session),
                        repairs=self.repairs,
                        repair_options=self.repair_options,
                    )
                    outcome = await action.run(context)
                    self._note(session, "flow", f"{state.action}: {outcome}")
                    self._fire(session, triggers.outcome_trigger(outcome))
                case MenuState() | GatherState() if not ask:
                    return steps
                case MenuState():
                    for prompt in self._question(session, state):
                        self._say(session, steps, prompt, True, extra)
                    language = self.language(session)
                    steps.append(
                        Gather(
                            digits=False,
                            timeout=state.timeout,
                            max_digits=1,
                            finish_on_key="",
                            speech=True,
                            hints=self._hints(state, language),
                            phrases=self._phrases(state, language),
                            language=language,
                        )
                    )
                    return steps
                case GatherState():
                    for prompt in self._question(session, state):
                        self._say(session, steps, prompt, True, extra)
                    steps.append(
                        Gather(
                            digits=True,
                            timeout=state.timeout,
                            max_digits=state.max_digits,
                            finish_on_key=state.finish_on_key,
                            speech=state.speech,
                            hints=self._leaving_hints(self.language(session)),
                            language=self.language(session),
                        )
                    )
                    return steps
                case TransferState():
                    if (await opening()).open:
                        for prompt in state.prompts:  # "please hold": only when someone is there
                            self._say(session, steps, prompt, False, extra)
                    else:
                        self._note(session, "flow", "closed: no hold prompt")
                    session.outcome = "transferred"
                    session.transfer_reason = state.reason
                    steps.append(self._transfer(session, state))
                    self._note(session, "flow", f"transfer: {state.reason}")
                    return steps
                case HangupState():
                    session.outcome = state.outcome
                    if self.survey.asks(session, state.outcome, outbound=self.outreach is not None):
                        return steps + self.survey.ask(self._asking(session))
                    return self._hang_up(session, steps, state, extra)
        raise FlowError(f"more than {MAX_AUTOMATIC_STEPS} states in one turn near '{session.state}'")

    def _last_answer(self, session: CallSession) -> str:
        """The caller's last answer as words: what they said, or for a key pressed at a menu,
        that option's words (pressing 1 for "dishwasher" names the dishwasher). Read from the
        call's own record, so nothing more about the caller is kept than it already holds."""
        said = next((e.text for e in reversed(session.transcript) if e.who == "caller"), "")
        if said.startswith("said '") and said.endswith("'"):
            return said[len("said '") : -1]
        if not said.startswith("pressed "):
            return ""
        key = said[len("pressed ") :][:1]
        menu = next(
            (s for name in reversed(session.path) if isinstance(s := self.flow.states.get(name), MenuState)),
            None,
        )
        option = next((o for o in menu.options if o.key == key), None) if menu is not None else None
        return " ".join(option.words_in(self.language(session))[:1]) if option is not None else ""

    def _hang_up(
        self, session: CallSession, steps: list[Step], state: HangupState, extra: Mapping[str, str]
    ) -> list[Step]:
        for prompt in state.prompts:
            self._say(session, steps, prompt, False, extra)
        steps.append(Hangup())
        return steps

    async def _after_survey(self, session: CallSession, steps: list[Step]) -> list[Step]:
        """The survey is over: the ending's own goodbye, as the call would have ended."""
        state = self.flow.states[session.state]
        if not isinstance(state, HangupState):
            raise FlowError(f"the survey ended at '{session.state}', which is not an ending")
        extra: Mapping[str, str] = {}
        if self._mentions_hours(session, state):
            said_in = self._catalog(session).say_language
            extra = (await self.opening.now(said_in, session.called, session.caller)).values()
        return self._hang_up(session, steps, state, extra)

    def exit_steps(self, session: CallSession) -> list[Step]:
        """How a call at rest in a hand-off or an ending leaves, without its prompts again.

        A media stream has already spoken "please hold"; when it closes, Twilio asks
        what comes next, and the answer is only the hand-off (or the hang-up).
        """
        state = self.flow.states[session.state]
        if isinstance(state, TransferState):
            return [self._transfer(session, state)]
        if isinstance(state, HangupState):
            return [Hangup()]
        return []

    def _transfer(self, session: CallSession, state: TransferState) -> Transfer:
        context = dict(session.vars)
        context["language"] = self.language(session)  # the agent must speak it (routing's skill)
        verified = session.vars.get("verified_order") == session.vars.get("order_number", "")
        context["verified"] = "yes" if "verified_order" in session.vars and verified else "no"
        return Transfer(reason=state.reason, context=context)

    @staticmethod
    def _question(session: CallSession, state: MenuState | GatherState) -> tuple[str, ...]:
        """The question, or from the second miss on, what works here (when the flow says)."""
        if state.retry.help_prompt and session.attempts.get(state.name, 0) >= 2:
            return (state.retry.help_prompt,)
        return state.prompts

    def _say(
        self,
        session: CallSession,
        steps: list[Step],
        prompt: str,
        interruptible: bool,
        extra: Mapping[str, str] | None = None,
    ) -> None:
        """Speak one prompt; `extra` are the line's own values (the hours), not the call's."""
        prompt_id = _prompt_id(prompt, session)
        catalog = self._catalog(session)
        if not catalog.has(prompt_id):
            # Validation checked the variant's prefix; a value it could not foresee
            # (a new status in the data) skips the sentence rather than failing the call.
            log.error("prompt_missing: %s (flow %s, state %s)", prompt_id, self.flow.name, session.state)
            return
        values = {**session.vars, **extra} if extra else session.vars
        text = catalog.render(prompt_id, values, self.today())
        steps.append(Say(text, interruptible, session.language))
        self._note(session, "bot", text)

    def _render(self, session: CallSession, prompt_id: str) -> str:
        """A prompt as text for something other than speech (a text message, in the caller's
        language); "" if missing."""
        catalog = self._catalog(session)
        if not catalog.has(prompt_id):
            return ""
        return catalog.render(prompt_id, session.vars, self.today())

    def _mentions_hours(self, session: CallSession, state: State) -> bool:
        """Whether this state's prompts read the schedule (so the switch is read only then)."""
        for prompt in state.prompts if not isinstance(state, ActionState) else ():
            prompt_id = _prompt_id(prompt, session)
            catalog = self._catalog(session)
            if catalog.has(prompt_id) and catalog.templates[prompt_id].variables & LINE_VARIABLES:
                return True
        return False

    def _note(self, session: CallSession, who: str, text: str) -> None:
        at = self._elapsed(session)
        session.transcript.append(TranscriptEntry(at=at, who=who, text=text))


def _prompt_id(prompt: str, session: CallSession) -> str:
    """The prompt a state names, its `{variable}` parts filled from the call ("status_{order_status}"
    → "status_shipped"); most names have none, and are taken as they are."""
    if "{" not in prompt:
        return prompt
    return _VARIANT.sub(lambda m: session.vars.get(m.group(1), ""), prompt)


_DIGIT_RUN = re.compile(r"[0-9](?:[0-9 ]*[0-9])?")
"""Digits, maybe said one at a time ("7 7 1 2 0"): one number."""


def _number_in(text: str, language: str, state: GatherState) -> str:
    """The first number in a sentence with as many digits as `state` takes; '' if none has.
    Numbers spoken as words ("forty-five twelve") are read when no digits are written."""
    runs = [run.replace(" ", "") for run in _DIGIT_RUN.findall(text)] or [
        reading(language).spoken_digits(text)
    ]
    return next((run for run in runs if state.min_digits <= len(run) <= state.max_digits), "")


def _confirming(session: CallSession) -> str | None:
    """The intent the caller is being asked "Is this about …?" for, if any."""
    return next((k[len(CONFIRMING) :] for k in session.attempts if k.startswith(CONFIRMING)), None)


def _describe(event: Event) -> str:
    match event:
        case Digits():
            return f"pressed {event.digits}" if event.digits else "pressed something that is not a key"
        case Speech():
            return f"said '{event.text}'"
        case NoInput():
            return "(silence)"
        case TransferEnded():
            return f"(transfer {event.result})"
        case _:
            return "(call started)"


def _key_name(key: str, language: str) -> str:
    return _KEY_NAMES.get(language, _KEY_NAMES["en"]).get(key, key)


def _repeat_words(language: str) -> tuple[str, ...]:
    return REPEAT_WORDS_BY_LANGUAGE.get(language, REPEAT_WORDS_BY_LANGUAGE["en"])


def _asks_to_repeat(event: Digits | Speech, language: str) -> bool:
    if isinstance(event, Digits):
        return event.digits[:1] == "*"
    said = " ".join(w for w in event.text.lower().replace(",", " ").split() if w not in _POLITE)
    return said.strip(" .?!") in _repeat_words(language)
