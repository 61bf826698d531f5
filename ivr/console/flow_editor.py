"""The supervisor's flow editor: edit, check, draw, listen to and test-call a draft.

Every route needs the supervisor role (`require` first thing); every state-changing
request is POST and so passes the console's CSRF check. The page sends the draft's
current files (flow YAML and prompt files by language) with each check, diagram or
test-call request, so what is checked, drawn and called is exactly what is on screen.

Routes (under /console):
  GET  /flows                          the default flow's editor
  GET  /flows/{name}                   the editor page
  POST /flows/{name}/validate          {flow, prompts} -> problems and prompt rows
  POST /flows/{name}/diagram           {flow, prompts, collapsed} -> inline SVG (problem states red),
                                       each state's line, the groups
  POST /flows/{name}/prompt            {text, id, value, add?} -> the prompt file with one prompt
                                       changed (or, with add, one it lacked added)
  POST /flows/{name}/listen            {text, language} -> URL of the prompt synthesised in that
                                       language's voice
  GET  /flows/audio/{id}.wav           that recording
  POST /flows/{name}/test/call         {flow, prompts, language, caller} -> first turn of a test call
  POST /flows/{name}/test/input        ... + {token, digits | speech | silence} -> next turn
  POST /flows/{name}/save              {flow, prompts, revision} -> the saved draft (409 on a conflict)
  POST /flows/{name}/diff              {flow, prompts} | {version} -> diff against the published version
  POST /flows/{name}/publish           {flow, prompts, revision, note} -> saves, then publishes
  GET  /flows/{name}/history           versions, newest first
  POST /flows/{name}/rollback          {version} -> that version is published again

Drafts, versions and the audit trail live in `ivr.versions.store.FlowStore`; every change
is attributed to the signed-in supervisor.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web

from ivr.bodies import read_json
from ivr.console.draft_check import DraftCheck, Located, check_draft
from ivr.console.prompt_audio import ConsoleAudio, TooLong
from ivr.console.prompt_text import PromptEditError, add_prompt, prompt_rows, set_prompt
from ivr.console.test_phone import DraftRun, PhoneTurn, TestPhone, TestPhoneError
from ivr.console.web import AUDIT, render, require
from ivr.flow.diagram import (
    DiagramError,
    FlowGraph,
    build_graph,
    group_id,
    problems_by_state,
    render_svg,
    state_id,
    to_dot,
)
from ivr.flow.files import GUIDE_FILE, FlowFiles
from ivr.flow.loader import FlowInvalid, Problem
from ivr.flow.steps import Digits, Event, NoInput, Speech
from ivr.speech.tts import SynthesisError
from ivr.store.accounts import Role, SignedIn
from ivr.templates import Template, TemplateError
from ivr.versions.store import Draft, DraftConflict, FlowStore, FlowStoreError

log = logging.getLogger(__name__)

CODEMIRROR = Path(__file__).resolve().parents[2] / "console-assets" / "node_modules" / "codemirror"
"""CodeMirror 5, installed by `npm ci` in console-assets/ (scripts/setup)."""
CODEMIRROR_FILES = ("lib/codemirror.js", "lib/codemirror.css", "mode/yaml/yaml.js")
MAX_TEXT = 100_000
"""Characters of one file the editor accepts (a large flow is about 10,000)."""
MAX_DRAFT_TEXT = 300_000
"""Characters of flow and prompts one request may send in all: a line in three languages
is about 60,000. Each request's YAML is parsed in a thread, but a thread holds the GIL for
its slices too; nine 98 KB prompt files in one request stalled every call's webhook."""


class FlowEditor:
    """What the editor's routes need: where drafts come from, the test phone, the voice."""

    def __init__(
        self,
        *,
        store: FlowStore,
        name: str,
        language: str,
        phone: TestPhone,
        audio: ConsoleAudio,
        today: Callable[[], date],
        codemirror: bool,
        languages: tuple[str, ...] = (),
    ) -> None:
        self.store = store
        self.name = name
        self.language = language
        self.languages = languages or (language,)
        """The languages the line serves (the default first): the prompt table's columns."""
        self.phone = phone
        self.audio = audio
        self.today = today
        self.codemirror = codemirror

    def known(self, name: str) -> None:
        if name != self.name:
            raise web.HTTPNotFound(text=f"There is no flow '{name}'.\n")


EDITOR = web.AppKey("flow_editor", FlowEditor)


def _editor(request: web.Request) -> FlowEditor:
    editor = request.app[EDITOR]
    editor.known(request.match_info.get("name", editor.name))
    return editor


def _bad(message: str, code: str = "bad_request") -> web.HTTPBadRequest:
    return web.HTTPBadRequest(
        text=web.json_response({"error": message, "code": code}).text, content_type="application/json"
    )


async def _json(request: web.Request) -> dict[str, Any]:
    try:
        body = await read_json(request)
    except ValueError:
        raise _bad("The request is not JSON.") from None
    if not isinstance(body, dict):
        raise _bad("The request must be a JSON object.")
    return body


def _text(body: Mapping[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        raise _bad(f"'{key}' must be text of at most {MAX_TEXT} characters.")
    return value


async def _files(editor: FlowEditor, body: Mapping[str, Any]) -> FlowFiles:
    """The draft's files the request sends; guides it does not send are the saved draft's (a
    page or script that knows nothing of guides never drops them)."""
    if "guides" in body:
        return _sent_files(body)
    try:
        saved = (await editor.store.draft(editor.name)).files.guides
    except FlowStoreError:
        saved = {}
    return _sent_files({**body, "guides": saved})


def _sent_files(body: Mapping[str, Any]) -> FlowFiles:
    prompts = body.get("prompts")
    if not isinstance(prompts, dict) or not all(
        isinstance(k, str) and k.isidentifier() and isinstance(v, str) and len(v) <= MAX_TEXT
        for k, v in prompts.items()
    ):
        raise _bad("'prompts' must map language codes to prompt file text.")
    guides = body.get("guides", {})
    if not isinstance(guides, dict) or not all(
        isinstance(k, str) and GUIDE_FILE.fullmatch(k) and isinstance(v, str) and len(v) <= MAX_TEXT
        for k, v in guides.items()
    ):
        raise _bad("'guides' must map guide file names (like dishwasher-e15) to guide file text.")
    flow = _text(body, "flow")
    if len(flow) + sum(len(text) for text in (*prompts.values(), *guides.values())) > MAX_DRAFT_TEXT:
        raise _bad(f"The flow, its prompts and guides may have at most {MAX_DRAFT_TEXT} characters in all.")
    return FlowFiles(flow, dict(prompts), dict(guides))


async def _check(editor: FlowEditor, files: FlowFiles) -> DraftCheck:
    """Validate in a thread: a large draft takes tens of milliseconds to parse and check,
    which on the event loop would be that long a pause for every live call."""
    return await asyncio.to_thread(
        check_draft,
        editor.name,
        files.flow,
        files.prompts,
        language=editor.language,
        languages=editor.languages,
        guides=files.guides,
    )


def _located(p: Located) -> dict[str, Any]:
    return {"file": p.file, "line": p.line, "state": p.state, "message": p.message, "severity": p.severity}


async def editor_home(request: web.Request) -> web.Response:
    require(request, Role.SUPERVISOR)
    raise web.HTTPSeeOther(f"/console/flows/{request.app[EDITOR].name}")


async def editor_page(request: web.Request) -> web.Response:
    require(request, Role.SUPERVISOR)
    editor = _editor(request)
    draft = await editor.store.draft(editor.name)
    return render(
        request,
        "flow_editor.html",
        name=editor.name,
        codemirror=editor.codemirror,
        draft=_draft_json(draft) | {"language": editor.language, "languages": list(editor.languages)},
    )


def _draft_json(draft: Draft) -> dict[str, Any]:
    return {
        "flow": draft.files.flow,
        "prompts": dict(draft.files.prompts),
        "guides": dict(draft.files.guides),
        "revision": draft.revision,
        "updated_by": draft.updated_by,
        "updated_at": draft.updated_at,
        "base_version": draft.base_version,
    }


def _revision(body: Mapping[str, Any]) -> int:
    revision = body.get("revision")
    if isinstance(revision, bool) or not isinstance(revision, int) or revision < 0:
        raise _bad("'revision' must be the draft revision the editor opened.")
    return revision


def _conflict(exc: DraftConflict) -> web.HTTPConflict:
    theirs = exc.draft
    at = time.strftime("%H:%M", time.localtime(theirs.updated_at))
    return web.HTTPConflict(
        text=web.json_response(
            {
                "error": f"{theirs.updated_by} saved this draft at {at}; reload to see their changes. "
                "Your text is still here and was not saved.",
                "code": exc.code,
                "updated_by": theirs.updated_by,
                "revision": theirs.revision,
            }
        ).text,
        content_type="application/json",
    )


async def save(request: web.Request) -> web.Response:
    me = require(request, Role.SUPERVISOR)
    editor = _editor(request)
    body = await _json(request)
    files = await _files(editor, body)
    try:
        draft = await editor.store.save_draft(
            editor.name, files, expected_revision=_revision(body), by=me.account.username
        )
    except DraftConflict as exc:
        raise _conflict(exc) from None
    log.info("flow_draft_saved: %s revision %s by %s", editor.name, draft.revision, me.account.username)
    return web.json_response(_draft_json(draft))


async def diff(request: web.Request) -> web.Response:
    require(request, Role.SUPERVISOR)
    editor = _editor(request)
    body = await _json(request)
    published = await editor.store.published(editor.name)
    if "version" in body:
        number = body["version"]
        if isinstance(number, bool) or not isinstance(number, int):
            raise _bad("'version' must be a version number.")
        try:
            other = await editor.store.version(editor.name, number)
        except FlowStoreError as exc:
            raise _bad(str(exc), exc.code) from None
        text = await asyncio.to_thread(FlowStore.diff, published.files, other.files)
    else:  # a diff of two large texts is CPU work: off the event loop
        text = await asyncio.to_thread(FlowStore.diff, published.files, await _files(editor, body))
    return web.json_response({"published": published.number, "diff": text})


async def publish(request: web.Request) -> web.Response:
    """Save the page's text as the draft (so nothing on screen is lost), then publish it."""
    me = require(request, Role.SUPERVISOR)
    editor = _editor(request)
    body = await _json(request)
    files = await _files(editor, body)
    checked = await _check(editor, files)
    if checked.errors:
        return web.json_response(
            {
                "error": f"Not published: the draft has {len(checked.errors)} problem(s) to fix first.",
                "code": "draft_invalid",
                "problems": [_located(p) for p in checked.errors],
            },
            status=422,
        )
    by = me.account.username
    note = str(body.get("note") or "")[:500]
    try:
        draft = await editor.store.save_draft(editor.name, files, expected_revision=_revision(body), by=by)
        version = await editor.store.publish(editor.name, by=by, expected_revision=draft.revision, note=note)
    except DraftConflict as exc:
        raise _conflict(exc) from None
    except FlowInvalid as exc:
        return web.json_response(
            {"error": "Not published: " + "; ".join(exc.lines()), "code": "draft_invalid"}, status=422
        )
    log.info("flow_published: %s version %s by %s", editor.name, version.number, by)
    draft = await editor.store.draft(editor.name)
    return web.json_response({"version": version.number, "draft": _draft_json(draft)})


async def history(request: web.Request) -> web.Response:
    require(request, Role.SUPERVISOR)
    editor = _editor(request)
    versions = await editor.store.history(editor.name)
    return web.json_response(
        {
            "versions": [
                {
                    "number": v.number,
                    "published_at": v.published_at,
                    "by": v.by,
                    "note": v.note,
                    "current": v.is_current,
                }
                for v in versions
            ]
        }
    )


async def rollback(request: web.Request) -> web.Response:
    me = require(request, Role.SUPERVISOR)
    editor = _editor(request)
    body = await _json(request)
    number = body.get("version")
    if isinstance(number, bool) or not isinstance(number, int):
        raise _bad("'version' must be a version number.")
    try:
        version = await editor.store.rollback(editor.name, number, by=me.account.username)
    except FlowStoreError as exc:
        raise _bad(f"Not rolled back: {exc}.", exc.code) from None
    log.info("flow_rolled_back: %s to version %s by %s", editor.name, version.number, me.account.username)
    draft = await editor.store.draft(editor.name)
    return web.json_response({"version": version.number, "draft": _draft_json(draft)})


async def validate(request: web.Request) -> web.Response:
    require(request, Role.SUPERVISOR)
    editor = _editor(request)
    files = await _files(editor, await _json(request))
    checked = await _check(editor, files)
    rows = await asyncio.to_thread(_prompt_table, files)
    return web.json_response(
        {
            "ok": not checked.errors,
            "problems": [_located(p) for p in checked.problems],
            "prompts": rows,
        }
    )


def _prompt_table(files: FlowFiles) -> dict[str, list[dict[str, Any]]]:
    """Each language's prompts as the table shows them (PyYAML's pure parser: run it in a thread)."""
    return {
        language: [{"id": r.prompt_id, "text": r.text, "line": r.line} for r in prompt_rows(text)]
        for language, text in files.prompts.items()
    }


async def diagram(request: web.Request) -> web.Response:
    """The draft drawn, with what the page needs to make it clickable: each state's line
    and the groups it can fold (`collapsed` names the groups to draw as one box)."""
    require(request, Role.SUPERVISOR)
    editor = _editor(request)
    body = await _json(request)
    collapsed = body.get("collapsed", [])
    if not isinstance(collapsed, list) or not all(isinstance(g, str) for g in collapsed):
        raise _bad("'collapsed' must be a list of group names.")
    checked = await _check(editor, await _files(editor, body))
    if checked.document is None:
        return web.json_response(
            {"error": "The flow is not readable YAML yet; the diagram shows the last readable version."},
            status=422,
        )
    flow_problems = [Problem(p.line, p.state, p.message) for p in checked.problems if p.file == "flow"]
    document = checked.document

    def draw() -> tuple[FlowGraph, frozenset[str], str]:
        """The graph, its folded groups and its DOT text: CPU work for a large flow, in a thread."""
        graph = build_graph(document)
        folded = frozenset(collapsed) & set(graph.groups())
        return graph, folded, to_dot(graph, problems_by_state(flow_problems), folded)

    graph, folded, dot = await asyncio.to_thread(draw)
    try:
        svg = await render_svg(dot)
    except DiagramError as exc:
        log.error("%s: %s", exc.code, exc.detail)
        return web.json_response({"error": "The diagram could not be drawn.", "code": exc.code}, status=503)
    states = sorted({p.state for p in flow_problems if p.state})
    return web.json_response(
        {
            "svg": svg,
            "problem_states": states,
            "lines": {state_id(n.name): n.line for n in graph.nodes if n.line},
            "groups": [
                {"name": name, "id": group_id(name), "states": size, "collapsed": name in folded}
                for name, size in graph.groups().items()
            ],
        }
    )


async def edit_prompt(request: web.Request) -> web.Response:
    require(request, Role.SUPERVISOR)
    _editor(request)
    body = await _json(request)
    edit = add_prompt if body.get("add") is True else set_prompt  # add: one missing in this language
    try:  # parsing a prompts file with PyYAML's pure parser: in a thread, off the event loop
        text = await asyncio.to_thread(edit, _text(body, "text"), _text(body, "id"), _text(body, "value"))
    except PromptEditError as exc:
        raise _bad(str(exc), "prompt_edit") from None
    return web.json_response({"text": text})


def sample_values(template: Template, today: date) -> dict[str, str]:
    """Stand-in values so a prompt with placeholders can be heard as a caller would."""
    values = {}
    for name in template.variables:
        if name in template.date_variables or "date" in name or name in ("eta", "expires_on"):
            values[name] = (today + timedelta(days=3)).isoformat()
        elif "number" in name or "code" in name:
            values[name] = "4512"
        else:
            values[name] = name.replace("_", " ")
    return values


async def listen(request: web.Request) -> web.Response:
    """A prompt's text as a caller in its language hears it: sample values said in that
    language's words (dates by its calendar), in that language's voice."""
    require(request, Role.SUPERVISOR)
    editor = _editor(request)
    body = await _json(request)
    language = str(body.get("language") or editor.language)
    if language not in editor.languages:
        raise _bad(f"The line does not speak '{language}'.", "no_language")
    try:
        template = Template(" ".join(_text(body, "text").split()))
    except TemplateError as exc:
        raise _bad(f"This prompt cannot be spoken: {exc}.", "prompt_invalid") from None
    today = editor.today()
    spoken = template.render(sample_values(template, today), today, language)
    if not spoken:
        raise _bad("This prompt is empty.", "prompt_empty")
    try:
        audio_id = await editor.audio.audio_id(spoken, language)
    except TooLong as exc:
        raise _bad(f"This prompt is {exc}.", "prompt_too_long") from None
    except SynthesisError as exc:
        log.error("%s: listen: %s", exc.code, exc)
        failed = {"error": "The prompt could not be synthesised.", "code": exc.code}
        return web.json_response(failed, status=503)
    return web.json_response(
        {"text": spoken, "language": language, "audio": f"/console/flows/audio/{audio_id}.wav"}
    )


async def audio(request: web.Request) -> web.StreamResponse:
    require(request, Role.SUPERVISOR)
    path = request.app[EDITOR].audio.path_for(request.match_info["audio_id"])
    if path is None:
        raise web.HTTPNotFound(text="No such recording.\n")
    return web.FileResponse(path, headers={"Content-Type": "audio/wav"})


async def _runnable(editor: FlowEditor, files: FlowFiles, language: str) -> DraftCheck:
    checked = await _check(editor, files)
    if checked.flow is None:
        first = checked.errors[0]
        where = f"line {first.line}: " if first.line else ""
        raise web.HTTPUnprocessableEntity(
            text=web.json_response(
                {
                    "error": f"The draft has {len(checked.errors)} problem(s) to fix before a test call; "
                    f"{where}{first.message}",
                    "code": "draft_invalid",
                }
            ).text,
            content_type="application/json",
        )
    if language not in checked.catalogs:
        raise _bad(f"The draft has no prompts in '{language}'.", "no_language")
    return checked


async def _phone_answer(editor: FlowEditor, turn: PhoneTurn, language: str) -> web.Response:
    heard = []
    for item in turn.heard:
        try:
            url: str | None = f"/console/flows/audio/{await editor.audio.audio_id(item.text, language)}.wav"
        except TooLong:
            url = None  # the words are shown; a prompt this long is not worth a minute of synthesis
        except SynthesisError as exc:
            log.error("%s: test phone: %s", exc.code, exc)
            url = None
        heard.append({"text": item.text, "audio": url})
    g = turn.gather
    waits = g and {"number": g.digits, "finish_on_key": g.finish_on_key, "max_digits": g.max_digits}
    return web.json_response(
        {
            "token": turn.token,
            "heard": heard,
            "state": turn.state,
            "path": list(turn.path),
            "ended": turn.ended,
            "gather": waits,
        }
    )


async def _phone_draft(
    request: web.Request,
) -> tuple[SignedIn, FlowEditor, Mapping[str, Any], DraftRun]:
    """The test phone's request: who asks (a supervisor), and the page's draft ready to run."""
    signed_in = require(request, Role.SUPERVISOR)
    editor = _editor(request)
    body = await _json(request)
    language = str(body.get("language") or editor.language)
    checked = await _runnable(editor, await _files(editor, body), language)
    assert checked.flow is not None
    return signed_in, editor, body, DraftRun(checked.flow, checked.catalogs[language], checked.guides)


async def test_call(request: web.Request) -> web.Response:
    """A new test call; audited (who, when, as which caller ID), refused ones too, as trying
    a customer's number on the test phone is worth knowing about."""
    signed_in, editor, body, draft = await _phone_draft(request)
    caller = str(body.get("caller") or "")[:20]
    audit = request.app[AUDIT]
    who, caller_id = signed_in.account.username, f"caller={caller or '(none)'}"
    try:
        turn = await editor.phone.call(draft, caller)
    except TestPhoneError as exc:
        await audit.record(who, "test_phone.refused", editor.name, f"{caller_id} code={exc.code}")
        raise _bad(str(exc), exc.code) from None
    await audit.record(who, "test_phone.call", editor.name, caller_id)
    return await _phone_answer(editor, turn, draft.catalog.language)


def _event(body: Mapping[str, Any]) -> Event:
    digits = body.get("digits")
    if isinstance(digits, str) and digits and all(ch in "0123456789*#" for ch in digits):
        return Digits(digits)
    speech = body.get("speech")
    if isinstance(speech, str) and speech.strip():
        return Speech(speech.strip()[:500])
    if body.get("silence") is True:
        return NoInput()
    raise _bad("Send keys (0-9, * and #), some speech, or silence.", "no_input")


async def test_input(request: web.Request) -> web.Response:
    _, editor, body, draft = await _phone_draft(request)
    try:
        turn = await editor.phone.answer(draft, _text(body, "token"), _event(body))
    except TestPhoneError as exc:
        raise _bad(str(exc), exc.code) from None
    return await _phone_answer(editor, turn, draft.catalog.language)


def codemirror_present() -> bool:
    """Whether `npm ci` has installed CodeMirror; if not, say how to fix it (the page still works)."""
    directory = CODEMIRROR
    missing = [f for f in CODEMIRROR_FILES if not (directory / f).is_file()]
    if missing:
        log.warning(
            "codemirror_missing: %s not found under %s; the flow editor falls back to a plain text box. "
            "Run scripts/setup (npm ci in console-assets/).",
            ", ".join(missing),
            directory,
        )
    return not missing


def setup_flow_editor(console: web.Application, editor: FlowEditor) -> None:
    """Add the flow editor's routes to the console sub-application."""
    console[EDITOR] = editor
    if editor.codemirror:
        console.router.add_static("/vendor/codemirror", CODEMIRROR)

    async def close_audio(_: web.Application) -> None:
        await editor.audio.aclose()

    console.on_cleanup.append(close_audio)
    console.router.add_get("/flows", editor_home)
    console.router.add_get("/flows/audio/{audio_id}.wav", audio)
    console.router.add_get("/flows/{name}", editor_page)
    console.router.add_post("/flows/{name}/validate", validate)
    console.router.add_post("/flows/{name}/diagram", diagram)
    console.router.add_post("/flows/{name}/prompt", edit_prompt)
    console.router.add_post("/flows/{name}/listen", listen)
    console.router.add_post("/flows/{name}/test/call", test_call)
    console.router.add_post("/flows/{name}/test/input", test_input)
    console.router.add_post("/flows/{name}/save", save)
    console.router.add_post("/flows/{name}/diff", diff)
    console.router.add_post("/flows/{name}/publish", publish)
    console.router.add_get("/flows/{name}/history", history)
    console.router.add_post("/flows/{name}/rollback", rollback)
