"""A flow, its prompts and its troubleshooting guides as files: read, written, validated and
compared.

Pure: no database and no network. `ivr.versions.store` keeps these files as versions;
the CLI and the console read, write and check them through here. The guides travel with the
flow that runs them, so a supervisor's change to a guide is a version like a prompt's: checked,
published, audited and rolled back together.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ivr.flow.guides import GuideBook, GuidesInvalid, parse_guides
from ivr.flow.loader import FlowInvalid, Problem, parse_flow
from ivr.flow.problems import ProblemCode
from ivr.flow.schema import Flow
from ivr.prompts import PromptCatalog, parse_catalog
from ivr.yamlsource import SourceError, load_text, read_text

LINE_FLOW = "support"
"""The name the line's flow is stored under (one line, one flow)."""
_LANGUAGE = re.compile(r"[a-z]{2,3}(?:[-_][A-Za-z0-9]{2,8})*")
GUIDE_FILE = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
"""A guide's file name (without `.yaml`): safe as a path and in a version's JSON."""


@dataclass(frozen=True, slots=True)
class FlowFiles:
    """The text of one flow and its prompts, exactly as a supervisor wrote them."""

    flow: str
    """The flow YAML (`flows/support.yaml`)."""
    prompts: Mapping[str, str] = field(default_factory=dict)
    """Language code → prompts YAML (`prompts/<language>.yaml`)."""
    guides: Mapping[str, str] = field(default_factory=dict)
    """File name without `.yaml` → troubleshooting guide YAML (`guides/<name>.yaml`)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "prompts", dict(sorted(self.prompts.items())))
        object.__setattr__(self, "guides", dict(sorted(self.guides.items())))


@dataclass(frozen=True, slots=True)
class CompiledFlow:
    """Files that passed validation, read into what the engine runs."""

    flow: Flow
    catalogs: Mapping[str, PromptCatalog]
    warnings: list[str]
    guides: GuideBook = field(default_factory=GuideBook)


# Files on disk


def _read_text(path: Path) -> str:
    try:
        return read_text(path)
    except UnicodeDecodeError:
        raise FlowInvalid(str(path), [Problem(None, None, "is not UTF-8 text")]) from None
    except ValueError as exc:  # too large
        raise FlowInvalid(str(path), [Problem(None, None, str(exc))]) from None
    except OSError as exc:
        problem = Problem(None, None, f"cannot be read: {exc.strerror or exc}")
        raise FlowInvalid(str(path), [problem]) from None


def read_files(flow_file: Path, prompts_dir: Path, guides_dir: Path | None = None) -> FlowFiles:
    """A flow file, every `*.yaml` in the prompts directory and in the guides directory (if
    there is one); unreadable ones are `FlowInvalid`."""
    flow = _read_text(flow_file)
    paths = sorted(prompts_dir.glob("*.yaml"))
    if not paths:
        raise FlowInvalid(str(prompts_dir), [Problem(None, None, "no prompt files (*.yaml) found")])
    return FlowFiles(flow, {path.stem: _read_text(path) for path in paths}, read_guides(guides_dir))


def read_guides(guides_dir: Path | None) -> dict[str, str]:
    """Every `*.yaml` in a guides directory by file name ({} when there is none)."""
    if guides_dir is None or not guides_dir.is_dir():
        return {}
    return {path.stem: _read_text(path) for path in sorted(guides_dir.glob("*.yaml"))}


def write_files(files: FlowFiles, directory: Path, name: str = LINE_FLOW) -> list[Path]:
    """Write `flows/<name>.yaml` and `prompts/<language>.yaml` under `directory`, the layout
    `read_files` and the repository use. Each file is replaced whole (written aside, then
    renamed), so a reader or a crash never sees half a file."""
    targets = {directory / "flows" / f"{name}.yaml": files.flow}
    for language, text in files.prompts.items():
        if not _LANGUAGE.fullmatch(language):
            problem = Problem(
                None, None, f"'{language}' is not a language code; not writing it as a file name"
            )
            raise FlowInvalid(f"prompts/{language}.yaml", [problem])
        targets[directory / "prompts" / f"{language}.yaml"] = text
    for guide, text in files.guides.items():
        if not GUIDE_FILE.fullmatch(guide):
            problem = Problem(None, None, f"'{guide}' is not a guide's file name; not writing it")
            raise FlowInvalid(f"guides/{guide}.yaml", [problem])
        targets[directory / "guides" / f"{guide}.yaml"] = text
    for path, text in targets.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.tmp")
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
    return list(targets)


@dataclass(frozen=True, slots=True)
class NamedFiles:
    """What a command line named: flow files, and prompt catalogues by language."""

    flows: list[Path]
    prompts: dict[str, Path]
    guides: dict[str, Path] = field(default_factory=dict)
    """Troubleshooting guide files by name (`guides/<name>.yaml`, as export writes them)."""


def is_guide(text: str) -> bool:
    """A troubleshooting guide file (`guide:` at the top and no `states:`)."""
    try:
        data = load_text(text, "").data
    except SourceError:
        return False
    return isinstance(data, dict) and "guide" in data and "states" not in data


def is_catalog(text: str) -> bool:
    """A prompts file (`prompts:` at the top and no `states:`) rather than a flow."""
    try:
        data = load_text(text, "").data
    except SourceError:
        return False  # unreadable: reported as the flow it may be meant to be
    return isinstance(data, dict) and "prompts" in data and "states" not in data


def name_files(paths: list[Path]) -> NamedFiles:
    """Sort the paths a command was given into flows and prompt catalogues, by content.

    Takes exactly what `ivr flows export DIR` writes: the directory itself (its `flows/`,
    `prompts/` and `guides/`), or any of its files in any order; a catalogue's language is its
    file name.
    """
    flows: list[Path] = []
    prompts: dict[str, Path] = {}
    expanded: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = [*sorted((path / "flows").glob("*.yaml")), *sorted((path / "prompts").glob("*.yaml"))]
            found += sorted((path / "guides").glob("*.yaml"))
            expanded += found or sorted(path.glob("*.yaml"))
        else:
            expanded.append(path)
    guides: dict[str, Path] = {}
    for path in expanded:
        if path.suffix in (".yaml", ".yml") and is_guide(_read_text(path)):
            guides[path.stem] = path
        elif path.suffix in (".yaml", ".yml") and is_catalog(_read_text(path)):
            if path.stem in prompts and prompts[path.stem] != path:
                problem = Problem(
                    None, None, f"a second prompts file for '{path.stem}' (also {prompts[path.stem]})"
                )
                raise FlowInvalid(str(path), [problem])
            prompts[path.stem] = path
        else:
            flows.append(path)
    return NamedFiles(flows, prompts, guides)


def read_named(flow_file: Path, prompts: Mapping[str, Path]) -> FlowFiles:
    """A flow and the named prompt files, as `read_files` reads them from a directory."""
    return FlowFiles(_read_text(flow_file), {code: _read_text(path) for code, path in prompts.items()})


# Validation


def compile_files(
    files: FlowFiles,
    source_name: str = f"flows/{LINE_FLOW}.yaml",
    *,
    prompts_source: str = "prompts",
    language: str | None = None,
    languages: tuple[str, ...] = (),
    guides_source: str = "guides",
) -> CompiledFlow:
    """Validate a flow and its prompts together; `FlowInvalid` names the file and line.

    `source_name` and `prompts_source` are how problems name the flow file and the prompts
    directory (a path on disk, or how the console shows them). With `language` (the line's
    default) and `languages` (all it serves), each must have prompts: without them no caller
    could be spoken to. Every language present must say the same prompts with the same
    placeholders (`check_languages`).
    """
    catalogs: dict[str, PromptCatalog] = {}
    for code, text in files.prompts.items():
        source = f"{prompts_source}/{code}.yaml"
        if not _LANGUAGE.fullmatch(code):
            problem = Problem(None, None, f"'{code}' is not a language code (like en, de or pt-BR)")
            raise FlowInvalid(source, [problem])
        try:
            catalogs[code] = parse_catalog(load_text(text, source), language=code)
        except SourceError as exc:
            raise FlowInvalid(exc.source, [Problem(exc.line, None, exc.message)]) from None
    if not catalogs:
        raise FlowInvalid(prompts_source, [Problem(None, None, "no prompt files: a flow needs a language")])
    check_line_languages(catalogs, prompts_source, language=language, languages=languages)
    try:
        doc = load_text(files.flow, source_name)
    except SourceError as exc:
        raise FlowInvalid(exc.source, [Problem(exc.line, None, exc.message)]) from None
    flow, warnings = parse_flow(doc, catalogs)
    spoken = (language,) if language is not None else ()
    order = [*spoken, *languages, *sorted(catalogs)]
    guides = compile_guides(files, list(dict.fromkeys(order)), guides_source)
    return CompiledFlow(flow, catalogs, warnings, guides)


def compile_guides(files: FlowFiles, languages: list[str], guides_source: str = "guides") -> GuideBook:
    """The guides of `files`, each with text in every one of `languages` (the line's default
    first); `FlowInvalid` names each guide file's first mistake and its line."""
    for name in files.guides:
        if not GUIDE_FILE.fullmatch(name):
            problem = Problem(
                None, None, f"'{name}' is not a guide's file name (lower-case letters, digits, '-')"
            )
            raise FlowInvalid(f"{guides_source}/{name}.yaml", [problem])
    texts = {f"{guides_source}/{name}.yaml": text for name, text in files.guides.items()}
    try:
        return parse_guides(texts, languages)
    except GuidesInvalid as exc:
        first = exc.problems[0]
        problems = [Problem(p.line, None, p.message) for p in exc.problems if p.source == first.source]
        raise FlowInvalid(first.source, problems) from None


def check_line_languages(
    catalogs: Mapping[str, PromptCatalog],
    prompts_source: str = "prompts",
    *,
    language: str | None = None,
    languages: tuple[str, ...] = (),
) -> None:
    """The line's languages each have prompts, and all say the same (`check_languages`);
    `FlowInvalid` otherwise. Publishing and the editor's check both ask this, so a draft the
    editor calls ok is one publish takes."""
    for code in languages or ((language,) if language is not None else ()):
        if code not in catalogs:
            problem = Problem(None, None, f"the line speaks '{code}' but there are no prompts for it")
            raise FlowInvalid(f"{prompts_source}/{code}.yaml", [problem])
    check_languages(catalogs, prompts_source, reference=language)


def check_languages(
    catalogs: Mapping[str, PromptCatalog], prompts_source: str = "prompts", *, reference: str | None = None
) -> None:
    """Every language has every prompt id, with the same placeholders as the reference
    language (the line's default); `FlowInvalid` names the file and line at fault.

    A caller of a language missing a prompt would hear nothing where others hear a
    sentence, and a placeholder missing in one language drops the order number or date
    from that language's sentence; both are caught before a version can be published.
    """
    if len(catalogs) < 2:
        return
    codes = sorted(catalogs)
    fallback = "en" if "en" in catalogs else codes[0]  # the shipped prompts' language
    first = reference if reference is not None and reference in catalogs else fallback
    base = catalogs[first]
    every = sorted({prompt_id for catalog in catalogs.values() for prompt_id in catalog.templates})
    for code in [first, *(c for c in codes if c != first)]:
        catalog = catalogs[code]
        problems: list[Problem] = []
        for prompt_id in every:
            if prompt_id not in catalog.templates:
                holder = next(c for c in [first, *codes] if prompt_id in catalogs[c].templates)
                line = catalogs[holder].lines.get(prompt_id)
                where = f" ({prompts_source}/{holder}.yaml line {line})" if line else ""
                message = f"prompt '{prompt_id}' is missing in language '{code}'; '{holder}' has it{where}"
                problems.append(Problem(None, None, message, ProblemCode.MISSING_PROMPT))
            elif code != first and prompt_id in base.templates:
                ours = catalog.templates[prompt_id].variables
                theirs = base.templates[prompt_id].variables
                if ours != theirs:
                    problems.append(
                        Problem(
                            catalog.lines.get(prompt_id) or None,
                            None,
                            f"prompt '{prompt_id}' has placeholders {_names(ours)} but in '{first}' "
                            f"{_names(theirs)}: every language must say the same values",
                            ProblemCode.PLACEHOLDER_MISMATCH,
                        )
                    )
        if problems:
            raise FlowInvalid(f"{prompts_source}/{code}.yaml", problems)


def _names(variables: frozenset[str]) -> str:
    return ", ".join(f"{{{name}}}" for name in sorted(variables)) or "none"


def diff_files(
    a: FlowFiles, b: FlowFiles, *, a_label: str = "a", b_label: str = "b", name: str = LINE_FLOW
) -> str:
    """A unified diff, file by file (the flow first, then each language, then each guide); ''
    when equal."""
    paths = {f"flows/{name}.yaml": (a.flow, b.flow)}
    for code in sorted(set(a.prompts) | set(b.prompts)):
        paths[f"prompts/{code}.yaml"] = (a.prompts.get(code, ""), b.prompts.get(code, ""))
    for guide in sorted(set(a.guides) | set(b.guides)):
        paths[f"guides/{guide}.yaml"] = (a.guides.get(guide, ""), b.guides.get(guide, ""))
    out: list[str] = []
    for path, (old, new) in paths.items():
        if old == new:
            continue
        from_file = f"{a_label}/{path}" if old else "/dev/null"  # a language added or removed
        to_file = f"{b_label}/{path}" if new else "/dev/null"
        out.extend(
            difflib.unified_diff(
                old.splitlines(), new.splitlines(), fromfile=from_file, tofile=to_file, lineterm=""
            )
        )
    return "\n".join(out) + "\n" if out else ""
