"""Missed sentences become training phrases: the supervisor's loop from insights to the line.

The insights page lists what callers said at a menu that the line did not understand. Next to
each, a supervisor picks the intent it meant (and its language) and sends it here
(POST /console/insights/teach, supervisor role, CSRF-checked like every console form). The
phrase is written into the flow's draft, the one the flow editor edits (a draft is started
from the published version when there is none), never into what callers hear now: it reaches
them when the draft is published, which is audited and can be rolled back like any edit.

The page that answers shows what the change does, measured the way `ivr flows understand`
measures a flow without test sentences (each language's phrases cross-validated, per intent),
before and after, and how the sentence itself is heard before and after. Compiling the draft
and training the models take a second of CPU, so they run in a thread, off the event loop.
A draft that does not validate, an unknown intent or language, or a phrase some intent
already has is refused whole, saying why; nothing is saved then.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from aiohttp import web

from ivr.console.flow_editor import EDITOR, FlowEditor
from ivr.console.intent_phrases import PhraseError, add_phrase, clean
from ivr.console.web import AUDIT, render, require
from ivr.flow.evaluation import NONE, Report, cross_validate, decide
from ivr.flow.files import CompiledFlow, FlowFiles
from ivr.flow.language_choice import spoken_language
from ivr.flow.loader import FlowInvalid
from ivr.flow.matching import IntentMatcher
from ivr.flow.schema import Flow
from ivr.store.accounts import Role
from ivr.versions.store import DraftConflict, FlowNotFound

log = logging.getLogger(__name__)

SAVE_TRIES = 3
"""Saves tried while other supervisors keep saving the same draft first."""
_WORDS = re.compile(r"[^\W\d_]+")


@dataclass(frozen=True, slots=True)
class Lesson:
    """One phrase taught: the draft's files with it, and what it changes."""

    files: FlowFiles
    intent: str
    language: str
    phrase: str
    before: Mapping[str, Report]
    """Each served language's phrases cross-validated, before the phrase."""
    after: Mapping[str, Report]
    """The same after it (only the taught language changes; the others are the same reports)."""
    heard_before: tuple[str, float]
    """How the sentence was taken before: (intent or 'none', probability)."""
    heard_after: tuple[str, float]


def learn(
    compile_flow: Callable[[FlowFiles], CompiledFlow],
    files: FlowFiles,
    intent: str,
    language: str,
    phrase: str,
    languages: Sequence[str],
) -> Lesson:
    """The draft with `phrase` added to `intent` in `language`, measured before and after.
    Blocking (YAML, training): run it in a thread."""
    before = _compile(compile_flow, files)
    names = [i.name for i in before.intents]
    if intent not in names:
        raise PhraseError(f"The draft has no intent '{intent}'; one of {', '.join(names)}.")
    for known in before.intents:
        if phrase in (p.lower() for p in known.phrases.get(language, ())):
            raise PhraseError(f"'{phrase}' is already a phrase of {known.name} ({language}).")
    taught = FlowFiles(add_phrase(files.flow, intent, language, phrase), files.prompts)
    after = _compile(compile_flow, taught)
    scores = {code: cross_validate(before.intents, code) for code in languages}
    return Lesson(
        files=taught,
        intent=intent,
        language=language,
        phrase=phrase,
        before=scores,
        after={**scores, language: cross_validate(after.intents, language)},
        heard_before=decide(IntentMatcher(before.intents, language), phrase),
        heard_after=decide(IntentMatcher(after.intents, language), phrase),
    )


def _compile(compile_flow: Callable[[FlowFiles], CompiledFlow], files: FlowFiles) -> Flow:
    try:
        return compile_flow(files).flow
    except FlowInvalid as exc:
        where = f" ({exc.lines()[0]})" if exc.problems else ""
        raise PhraseError(f"The draft does not validate{where}; fix it in the flow editor first.") from None


def guess_languages(flow: Flow | None, said: Sequence[str], languages: Sequence[str]) -> dict[str, str]:
    """The language each missed sentence is most likely in, by the words only one language's
    phrases use (the form's preselection; the supervisor can change it)."""
    if flow is None or len(languages) < 2:
        return {text: languages[0] for text in said} if languages else {}
    words = {
        code: frozenset(
            w for i in flow.intents for p in i.phrases.get(code, ()) for w in _WORDS.findall(p.lower())
        )
        for code in languages
    }
    return {text: spoken_language(text, words) or languages[0] for text in said}


async def _draft(editor: FlowEditor) -> tuple[FlowFiles, int]:
    """The draft's files and revision; the published version's (revision 0) when there is none."""
    try:
        draft = await editor.store.draft(editor.name)
        return draft.files, draft.revision
    except FlowNotFound:
        return (await editor.store.published(editor.name)).files, 0


async def teach(request: web.Request) -> web.Response:
    me = require(request, Role.SUPERVISOR)
    editor = request.app[EDITOR]
    form = await request.post()
    said, intent, language = (str(form.get(key, "")) for key in ("words", "intent", "language"))
    try:
        if language not in editor.languages:
            served = ", ".join(editor.languages)
            raise PhraseError(f"The line does not speak {language or 'that language'}; one of {served}.")
        phrase = clean(said)
        for _ in range(SAVE_TRIES):
            files, revision = await _draft(editor)
            lesson = await asyncio.to_thread(
                learn, editor.store.compile, files, intent, language, phrase, editor.languages
            )
            try:
                draft = await editor.store.save_draft(
                    editor.name, lesson.files, expected_revision=revision, by=me.account.username
                )
                break
            except DraftConflict:
                continue
        else:
            raise PhraseError("Others kept saving the draft at the same moment; try again.")
    except PhraseError as exc:
        return render(request, "teach.html", status=400, error=str(exc), said=said, lesson=None)
    who = me.account.username
    await request.app[AUDIT].record(
        who,
        "flow.phrase_added",
        editor.name,
        f"{intent} ({language}): {phrase}; draft revision {draft.revision}",
    )
    log.info("flow_phrase_added: %s %s (%s) by %s", editor.name, intent, language, who)
    return render(request, "teach.html", error="", said=said, lesson=lesson, draft=draft, unheard=NONE)


def setup_teaching(console: web.Application) -> None:
    """After the flow editor (the drafts it edits) and the insights page (where the form is)."""
    console.router.add_post("/insights/teach", teach)
