"""The documentation's commands, paths, links and map, checked against the code.

A newcomer copies commands out of README.md, CONTRIBUTING.md and docs/, and trusts the README's
map of the tree. Both go stale without anyone noticing: an option is renamed, a module moves, a
page is split. These tests read the markdown as a reader would and fail on what would mislead one.

`ivr` commands are parsed with the real argument parser (`ivr.cli.build_parser`) instead of being
run, so the checks cost milliseconds and touch no database. Two harmless documented commands are
also run for real, because a command can parse and still fail to start.

A fenced shell line is either an example, which must parse exactly as written, or a synopsis
(`ivr calls list [--json] [--limit N]`, `ivr flows diff|publish|…`), recognised by its brackets,
bars, ellipses or CAPITAL placeholders: for those every subcommand named must exist and every
option must belong to it.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from ivr.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELL_LANGUAGES = {"sh", "bash", "shell", "console"}
# Top-level folders of the repository: a word in a shell line that starts with one is a path.
REPO_DIRS: tuple[str, ...] = (
    "ivr/",
    "ivr/speech/",
    "tests/",
    "benchmarks/",
    "scripts/",
    "flows/",
    "prompts/",
)
REPO_DIRS += ("campaigns/", "demo/", "grafana/", "console-assets/", "docs/", ".ci/", ".venv/bin/")
PLACEHOLDER = re.compile(r"[A-Z][A-Z0-9_]*(\.[a-z]+)?(…|\.\.\.)?")
FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<lang>[\w-]*)[^\n]*\n(?P<body>.*?)^(?P=indent)```", re.M | re.S)
LINK = re.compile(r"!?\[[^\]]*\]\((?P<target>[^)\s]+)\)")
RUN_FOR_REAL = (["--help"], ["flows", "validate", "flows/support.yaml"])
"""Documented commands that are harmless anywhere: no network, no database, no files written."""


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """(language, body) of every fenced block, its indentation (inside a list item) removed."""
    blocks = []
    for match in FENCE.finditer(text):
        indent = len(match["indent"])
        body = "\n".join(line[indent:] for line in match["body"].splitlines())
        blocks.append((match["lang"], body))
    return blocks


def _split_outside_brackets(line: str) -> list[str]:
    """Split a shell line into commands at `&&`, `||`, `;`, `&` and a spaced `|` (a pipe), but
    not inside a synopsis's `[a | b]`."""
    parts, depth, current, i = [], 0, "", 0
    while i < len(line):
        ch = line[i]
        depth += ch == "["
        depth -= ch == "]"
        if depth == 0:
            for separator in ("&&", "||", " | ", ";", "&"):
                if line.startswith(separator, i):
                    parts.append(current)
                    current, i = "", i + len(separator)
                    break
            else:
                current += ch
                i += 1
            continue
        current += ch
        i += 1
    parts.append(current)
    return [part.strip() for part in parts if part.strip()]


def shell_commands(text: str) -> list[str]:
    """Every command in the fenced shell blocks of a markdown text, comments and prompts removed,
    continuation lines joined."""
    commands = []
    for language, body in fenced_blocks(text):
        if language not in SHELL_LANGUAGES:
            continue
        joined = re.sub(r"\\\n\s*", " ", body)
        for line in joined.splitlines():
            line = re.sub(r"(^|\s)#.*$", "", line).strip().removeprefix("$ ")
            commands.extend(_split_outside_brackets(line))
    return commands


def _words(command: str) -> list[str]:
    """The command's words without leading `NAME=value` environment assignments."""
    words = shlex.split(command)
    while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=\S*", words[0]):
        words.pop(0)
    return words


def is_synopsis(words: list[str]) -> bool:
    return any(
        "[" in word or "]" in word or "|" in word or "…" in word or PLACEHOLDER.fullmatch(word)
        for word in words
    )


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def check_ivr_command(args: list[str]) -> str | None:
    """None when `ivr ARGS` is right; else what is wrong, in words."""
    if not is_synopsis(args):
        errors = io.StringIO()
        with contextlib.redirect_stderr(errors), contextlib.redirect_stdout(io.StringIO()):
            try:
                build_parser().parse_args(args)
            except SystemExit as exc:
                if exc.code != 0:  # `--help` exits 0
                    return errors.getvalue().strip().splitlines()[-1]
        return None
    parsers = [build_parser()]
    rest = list(args)
    while rest and not rest[0].startswith(("-", "[")) and not PLACEHOLDER.fullmatch(rest[0]):
        choices = [_subcommands(parser) for parser in parsers]
        if not all(choices):
            break
        word = rest.pop(0)
        following = []
        for alternative in word.split("|"):
            for parser, subs in zip(parsers, choices, strict=True):
                if alternative not in subs:
                    return f"'{alternative}' is not a subcommand of '{parser.prog}' ({', '.join(subs)})"
                following.append(subs[alternative])
        parsers = following
    for word in rest:
        positional_choices = [
            set(map(str, action.choices or ()))
            for parser in parsers
            for action in parser._actions
            if not action.option_strings
            and action.choices
            and not isinstance(action, argparse._SubParsersAction)
        ]
        if "|" in word and not word.startswith("[") and positional_choices:
            for alternative in word.split("|"):
                if not any(alternative in choices for choices in positional_choices):
                    return f"'{alternative}' is not a choice of '{parsers[0].prog}'"
    for option in re.findall(r"(?<![\w-])--?[a-zA-Z][\w-]*", " ".join(rest)):
        if not all(option in parser._option_string_actions for parser in parsers):
            return f"'{option}' is not an option of '{parsers[0].prog}'"
    return None


def _path_exists(word: str) -> bool:
    """`tests/test_calls.py::test_x` names its file; `.venv/bin/ruff` is looked for in the virtualenv
    running the tests when the checkout has no `.venv` of its own (a CI image built differently)."""
    path = word.split("::")[0].rstrip("/")
    if any(ch in path for ch in "*?["):
        return any(ROOT.glob(path))
    if path.startswith(".venv/bin/") and not (ROOT / ".venv").is_dir():
        return (Path(sys.prefix) / "bin" / path.removeprefix(".venv/bin/")).exists()
    return (ROOT / path).exists()


def check_command(command: str) -> str | None:
    """None when a documented shell command is right; else what is wrong."""
    try:
        words = _words(command)
    except ValueError as exc:
        return f"cannot be split into words: {exc}"
    if not words:
        return None
    if words[0] in ("ivr", ".venv/bin/ivr"):
        problem = check_ivr_command(words[1:])
        if problem:
            return problem
    for word in words:
        if word.startswith(REPO_DIRS) and not _path_exists(word):
            return f"'{word}' does not exist"
    return None


def _slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(text: str) -> set[str]:
    found: set[str] = set()
    for match in re.finditer(r"^#{1,6} (.+)$", FENCE.sub("", text), re.M):
        slug = _slug(match[1])
        n = 0
        while (candidate := slug if n == 0 else f"{slug}-{n}") in found:
            n += 1
        found.add(candidate)
    return found


def check_links(path: Path, text: str) -> list[str]:
    """Every relative link in a markdown file must reach a file, and its #anchor a heading."""
    problems = []
    prose = re.sub(r"`[^`\n]*`", "", FENCE.sub("", text))
    for match in LINK.finditer(prose):
        target = match["target"]
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        linked = (path.parent / file_part).resolve() if file_part else path
        if not linked.exists():
            problems.append(f"{target}: {os.path.relpath(linked, ROOT)} does not exist")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked.read_text()):
            problems.append(f"{target}: no heading '#{anchor}' in {linked.name}")
    return problems


def readme_map() -> list[str]:
    """The first word of every line of the README's map: paths, package folders and globs."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Map of the tree", 1)[1].split("\n## ", 1)[0]
    return [
        line.split()[0] for _, body in fenced_blocks(section) for line in body.splitlines() if line.strip()
    ]


def files_the_map_must_name() -> set[str]:
    """Every module of the line and the speech engines, every test helper, benchmark and script."""
    wanted = {*ROOT.glob("ivr/**/*.py"), *ROOT.glob("ivr/speech/*.py"), *ROOT.glob("benchmarks/*")}
    wanted |= {*ROOT.glob("scripts/*")}
    wanted |= {
        p for p in ROOT.glob("tests/*.py") if not p.name.startswith("test_") and p.name != "__init__.py"
    }
    return {str(p.relative_to(ROOT)) for p in wanted if "__pycache__" not in p.parts and p.is_file()}


def files_named(entries: list[str]) -> set[str]:
    named = set()
    for entry in entries:
        if entry.endswith("/"):
            named.add(f"{entry}__init__.py")
        elif any(ch in entry for ch in "*?["):
            named |= {str(p.relative_to(ROOT)) for p in ROOT.glob(entry)}
        else:
            named.add(entry)
    return named


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_documented_command_parses_and_its_paths_exist(doc: Path) -> None:
    problems = [
        f"{command!r}: {problem}"
        for command in shell_commands(doc.read_text())
        if (problem := check_command(command))
    ]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_reaches_a_file_and_heading(doc: Path) -> None:
    problems = check_links(doc, doc.read_text())
    assert not problems, "\n".join(problems)


def test_the_map_names_only_what_exists() -> None:
    gone = [entry for entry in readme_map() if not _path_exists(entry)]
    assert not gone, "the README's map names what does not exist: " + ", ".join(gone)


def test_the_map_names_every_module() -> None:
    missing = sorted(files_the_map_must_name() - files_named(readme_map()))
    assert not missing, "add a line to the README's map for: " + ", ".join(missing)


def test_every_setting_read_from_the_environment_is_documented() -> None:
    source = (ROOT / "ivr" / "config.py").read_text()
    names = set(re.findall(r"\b(?:IVR|TWILIO)_[A-Z0-9_]*[A-Z0-9]\b|\bPUBLIC_URL\b", source))
    page = (ROOT / "docs" / "configuration.md").read_text()
    missing = sorted(name for name in names if f"`{name}" not in page)
    assert not missing, "add to docs/configuration.md: " + ", ".join(missing)


@pytest.mark.process
@pytest.mark.parametrize("args", RUN_FOR_REAL, ids=" ".join)
def test_harmless_documented_commands_run(args: list[str], tmp_path: Path) -> None:
    documented = {" ".join(_words(c)[1:]) for doc in DOCS for c in shell_commands(doc.read_text())}
    assert " ".join(args) in documented, "run only what the docs show"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IVR_", "TWILIO_"))}
    env["IVR_DATA_DIR"] = str(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "ivr", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(
    ("command", "problem"),
    [
        ("ivr calls purge --older-then 90d", "error:"),
        ("ivr flows valdate flows/support.yaml", "invalid choice"),
        ("ivr calls list [--json] [--limt N]", "'--limt' is not an option"),
        ("ivr flows diff|publish|undo", "'undo' is not a subcommand"),
        ("ivr import orders|invoices FILE.csv", "'invoices' is not a choice"),
        (".venv/bin/python -m pytest tests/test_nothing_here.py::test_x", "does not exist"),
        ("scripts/deploy", "does not exist"),
    ],
)
def test_the_checks_catch_a_broken_command(command: str, problem: str) -> None:
    assert problem in (check_command(command) or "")


def test_the_checks_catch_a_broken_link_and_a_missing_module() -> None:
    page = ROOT / "docs" / "index.md"
    assert check_links(page, "[gone](nowhere.md) [bad anchor](speed.md#no-such-heading)") == [
        "nowhere.md: docs/nowhere.md does not exist",
        "speed.md#no-such-heading: no heading '#no-such-heading' in speed.md",
    ]
    assert "ivr/line.py" not in files_named([e for e in readme_map() if e != "ivr/line.py"])
