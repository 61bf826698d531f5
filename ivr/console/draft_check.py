"""Check a draft (the flow YAML, its prompt files and its guides, as the editor holds them) in one go.

The editor sends its current text on every pause in typing; the answer must locate each
problem (which file, which line, which state) and never raise, however broken the text.
Prompt files are read first because the flow's prompt ids are checked against them; a
broken prompt file is reported as such and the flow is checked against the others.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ivr.flow.files import FlowFiles, check_line_languages, compile_guides
from ivr.flow.guides import GuideBook
from ivr.flow.loader import FlowInvalid, Problem, read_draft
from ivr.flow.problems import Severity
from ivr.flow.schema import Flow
from ivr.prompts import PromptCatalog, parse_catalog
from ivr.yamlsource import Document, SourceError, load_text


@dataclass(frozen=True, slots=True)
class Located:
    """One problem, placed where the supervisor can find it."""

    file: str
    """'flow' for the flow YAML, a language code ('en') for that prompt file, or
    'guides/<name>' for a troubleshooting guide."""
    line: int | None
    state: str | None
    message: str
    severity: Severity


@dataclass(frozen=True, slots=True)
class DraftCheck:
    problems: tuple[Located, ...]
    flow: Flow | None
    """The flow ready to run, when it has no errors."""
    catalogs: Mapping[str, PromptCatalog]
    """The prompt files that could be read, by language."""
    document: Document | None
    """The flow YAML as read (None when it is not YAML at all), for the diagram."""
    guides: GuideBook = field(default_factory=GuideBook)
    """The draft's guides, for its test calls (empty while any of them has a mistake)."""

    @property
    def errors(self) -> tuple[Located, ...]:
        return tuple(p for p in self.problems if p.severity is Severity.ERROR)


def flow_source(name: str) -> str:
    return f"flows/{name}.yaml"


def check_draft(
    name: str,
    flow_text: str,
    prompts: Mapping[str, str],
    *,
    language: str | None = None,
    languages: tuple[str, ...] = (),
    guides: Mapping[str, str] | None = None,
) -> DraftCheck:
    """Every problem in the draft's files; the compiled flow when there are no errors.

    `language` and `languages` are the line's (its default first), as publishing checks them:
    each must have prompts, and every prompt file must say the same prompts."""
    problems: list[Located] = []
    catalogs: dict[str, PromptCatalog] = {}
    for code, text in sorted(prompts.items()):
        try:
            catalogs[code] = parse_catalog(load_text(text, f"prompts/{code}.yaml"), code)
        except SourceError as exc:
            problems.append(Located(code, exc.line, None, exc.message, Severity.ERROR))
    if not prompts:
        problems.append(Located("flow", None, None, "the draft has no prompt files", Severity.ERROR))
    elif not problems:
        try:
            check_line_languages(catalogs, language=language, languages=languages)
        except FlowInvalid as exc:
            file = exc.source.removeprefix("prompts/").removesuffix(".yaml")
            problems.extend(Located(file, p.line, p.state, p.message, Severity.ERROR) for p in exc.problems)
    try:
        doc = load_text(flow_text, flow_source(name))
    except SourceError as exc:
        problems.append(Located("flow", exc.line, None, exc.message, Severity.ERROR))
        return DraftCheck(tuple(problems), None, catalogs, None)
    draft = read_draft(doc, catalogs)
    # A prompt missing in one language is found twice, by the languages' check and by the state
    # that says it: the supervisor sees it once, in the language's prompt file, where it is fixed.
    said = [p.message for p in problems if p.file != "flow"]
    problems.extend(
        _flow_problem(p, Severity.ERROR)
        for p in draft.problems
        if not any(message.startswith(p.message) for message in said)
    )
    book = GuideBook()
    if guides:
        spoken = [*((language,) if language else ()), *languages, *sorted(catalogs)]
        try:
            book = compile_guides(FlowFiles("", {}, guides), list(dict.fromkeys(spoken)))
        except FlowInvalid as exc:
            file = exc.source.removesuffix(".yaml")
            problems.extend(Located(file, p.line, None, p.message, Severity.ERROR) for p in exc.problems)
    if problems:
        return DraftCheck(tuple(problems), None, catalogs, doc)
    warnings = tuple(_flow_problem(p, Severity.WARNING) for p in draft.warnings)
    return DraftCheck(warnings, draft.flow(doc.source), catalogs, doc, book)


def _flow_problem(problem: Problem, severity: Severity) -> Located:
    return Located("flow", problem.line, problem.state, problem.message, severity)
