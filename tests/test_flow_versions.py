"""The flow lifecycle store on real SQLite and PostgreSQL: drafts, publish, rollback, audit."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from ivr.flow.files import LINE_FLOW, FlowFiles, compile_files, diff_files, read_files, write_files
from ivr.flow.loader import FlowInvalid
from ivr.store.audit import AuditLog
from ivr.store.sql import Sql
from ivr.testing.demo_line import ROOT
from ivr.versions.store import DraftConflict, FlowNotFound, FlowStore, FlowStoreError

_SHIPPED = read_files(ROOT / "flows" / "support.yaml", ROOT / "prompts")
START = FlowFiles(_SHIPPED.flow, {"en": _SHIPPED.prompts["en"]})
"""The shipped flow with its English prompts: versions work the same for every language."""
WELCOME = "welcome: Thanks for calling Acme after-sales support."
NEW_WELCOME = "welcome: Welcome to Acme support, now with holiday hours."


def with_welcome(files: FlowFiles, line: str) -> FlowFiles:
    assert WELCOME in files.prompts["en"]
    return FlowFiles(files.flow, {**files.prompts, "en": files.prompts["en"].replace(WELCOME, line)})


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        self.now += 1
        return self.now


@pytest.fixture
async def store(sql: Sql) -> FlowStore:
    flows = FlowStore(sql, clock=Clock())
    assert await flows.seed(LINE_FLOW, START)
    return flows


async def test_first_run_seeds_version_1_as_published_and_as_the_draft(store: FlowStore) -> None:
    published = await store.published(LINE_FLOW)
    assert (published.number, published.is_current, published.files) == (1, True, START)
    draft = await store.draft(LINE_FLOW)
    assert (draft.files, draft.revision, draft.base_version) == (START, 1, 1)
    # A second start (a restart, or changed starting files) leaves the database alone.
    assert not await store.seed(LINE_FLOW, with_welcome(START, NEW_WELCOME))
    assert [v.number for v in await store.history(LINE_FLOW)] == [1]
    assert (await store.published(LINE_FLOW)).files == START


async def test_instances_starting_together_seed_exactly_once(sql: Sql) -> None:
    stores = [FlowStore(sql) for _ in range(5)]
    seeded = await asyncio.gather(*(s.seed(LINE_FLOW, START) for s in stores))
    assert sorted(seeded) == [False, False, False, False, True]
    assert [v.number for v in await stores[0].history(LINE_FLOW)] == [1]


async def test_a_stale_draft_save_is_refused_naming_who_saved_last(store: FlowStore) -> None:
    opened = await store.draft(LINE_FLOW)
    alice = await store.save_draft(
        LINE_FLOW, with_welcome(START, NEW_WELCOME), expected_revision=opened.revision, by="alice"
    )
    assert alice.revision == opened.revision + 1 and alice.updated_by == "alice"
    with pytest.raises(DraftConflict) as caught:
        bob = with_welcome(START, "welcome: Bob's words.")
        await store.save_draft(LINE_FLOW, bob, expected_revision=opened.revision, by="bob")
    assert "changed by alice at" in str(caught.value) and "nothing was saved" in str(caught.value)
    assert caught.value.code == "draft_conflict"
    assert (await store.draft(LINE_FLOW)).files == alice.files  # Alice's work is intact


async def test_an_invalid_publish_changes_nothing_and_says_where(sql: Sql, store: FlowStore) -> None:
    broken = FlowFiles(START.flow.replace("next: find_return", "next: find_calr"), START.prompts)
    draft = await store.save_draft(LINE_FLOW, broken, expected_revision=1, by="alice")
    with pytest.raises(FlowInvalid) as caught:
        await store.publish(LINE_FLOW, by="alice", expected_revision=draft.revision)
    line = START.flow.splitlines().index("    next: find_return") + 1  # the welcome's
    assert caught.value.lines() == [
        f"flows/support.yaml line {line}, state 'welcome': next goes to 'find_calr', which is not a state"
    ]
    bad_yaml = FlowFiles(START.flow, {"en": START.prompts["en"] + "  oops: [unclosed\n"})
    with pytest.raises(FlowInvalid) as caught:
        await store.publish(LINE_FLOW, by="alice", files=bad_yaml)
    assert caught.value.source == "prompts/en.yaml"
    assert caught.value.problems[0].line == len(START.prompts["en"].splitlines()) + 2
    assert "not valid YAML" in caught.value.problems[0].message
    published = await store.published(LINE_FLOW)
    assert (published.number, published.files) == (1, START)
    assert [v.number for v in await store.history(LINE_FLOW)] == [1]
    assert (await store.draft(LINE_FLOW)).files == broken  # the draft is kept to be fixed
    assert [e.action for e in await AuditLog(sql).recent()] == ["publish"]  # the seed only


async def test_publishing_the_draft_makes_a_version_with_an_audited_diff(sql: Sql, store: FlowStore) -> None:
    edited = with_welcome(START, NEW_WELCOME)
    draft = await store.save_draft(LINE_FLOW, edited, expected_revision=1, by="alice")
    version = await store.publish(LINE_FLOW, by="alice", expected_revision=draft.revision, note="holidays")
    assert (version.number, version.by, version.note, version.is_current) == (2, "alice", "holidays", True)
    assert (await store.published(LINE_FLOW)).files == edited
    assert (await store.draft(LINE_FLOW)).base_version == 2
    entry = (await AuditLog(sql).recent(subject=f"flow:{LINE_FLOW}"))[0]
    assert (entry.actor, entry.action) == ("alice", "publish")
    lines = entry.detail.splitlines()
    assert lines[0] == "version 2 (was version 1): holidays"
    assert "--- version 1/prompts/en.yaml" in lines and "+++ version 2/prompts/en.yaml" in lines
    assert f"-  {WELCOME}" in lines and f"+  {NEW_WELCOME}" in lines
    assert not any("flows/support.yaml" in line for line in lines)  # only the file that changed


async def test_publishing_a_draft_someone_saved_since_is_refused(store: FlowStore) -> None:
    opened = await store.draft(LINE_FLOW)
    await store.save_draft(LINE_FLOW, with_welcome(START, NEW_WELCOME), expected_revision=1, by="alice")
    with pytest.raises(DraftConflict):
        await store.publish(LINE_FLOW, by="bob", expected_revision=opened.revision)
    assert (await store.published(LINE_FLOW)).number == 1


async def test_publishing_what_is_published_makes_no_new_version(store: FlowStore) -> None:
    assert (await store.publish(LINE_FLOW, by="ci", files=START)).number == 1
    assert len(await store.history(LINE_FLOW)) == 1


async def test_rollback_to_the_previous_and_to_a_given_version(sql: Sql, store: FlowStore) -> None:
    second = with_welcome(START, NEW_WELCOME)
    third = with_welcome(START, "welcome: Version three speaking.")
    await store.publish(LINE_FLOW, by="ci", files=second)
    await store.publish(LINE_FLOW, by="ci", files=third)

    back = await store.rollback(LINE_FLOW, None, by="carol")
    assert (back.number, back.files, back.is_current) == (2, second, True)
    assert (await store.published(LINE_FLOW)).files == second
    entry = (await AuditLog(sql).recent())[0]
    assert (entry.actor, entry.action) == ("carol", "rollback")
    assert entry.detail.splitlines()[0] == "rolled back to version 2 (was version 3)"
    assert "-  welcome: Version three speaking." in entry.detail and f"+  {NEW_WELCOME}" in entry.detail

    first = await store.rollback(LINE_FLOW, 1, by="carol")
    assert (first.number, first.files) == (1, START)
    with pytest.raises(FlowStoreError, match="version 1 is the first"):
        await store.rollback(LINE_FLOW, None, by="carol")
    with pytest.raises(FlowNotFound, match="no version 9"):
        await store.rollback(LINE_FLOW, 9, by="carol")
    forward = await store.rollback(LINE_FLOW, 3, by="carol")
    assert forward.files == third

    history = await store.history(LINE_FLOW)
    assert [(v.number, v.is_current, v.by) for v in history] == [
        (3, True, "ci"),
        (2, False, "ci"),
        (1, False, "seed"),
    ]
    assert [e.action for e in await AuditLog(sql).recent()] == [
        "rollback",
        "rollback",
        "rollback",
        "publish",
        "publish",
        "publish",
    ]


async def test_a_cli_publish_moves_a_clean_draft_and_keeps_one_with_edits(store: FlowStore) -> None:
    second = with_welcome(START, NEW_WELCOME)
    await store.publish(LINE_FLOW, by="ci", files=second)
    draft = await store.draft(LINE_FLOW)
    assert (draft.files, draft.base_version) == (second, 2)  # nobody was editing: it follows

    edits = with_welcome(START, "welcome: Alice is still working on this.")
    await store.save_draft(LINE_FLOW, edits, expected_revision=draft.revision, by="alice")
    await store.publish(LINE_FLOW, by="ci", files=with_welcome(START, "welcome: From git."))
    kept = await store.draft(LINE_FLOW)
    assert (kept.files, kept.base_version, kept.updated_by) == (edits, 2, "alice")


async def test_concurrent_publishes_each_get_their_own_number(store: FlowStore, sql: Sql) -> None:
    contents = [with_welcome(START, f"welcome: Variant {n}.") for n in range(4)]
    versions = await asyncio.gather(
        *(FlowStore(sql).publish(LINE_FLOW, by=f"ci{n}", files=c) for n, c in enumerate(contents))
    )
    assert sorted(v.number for v in versions) == [2, 3, 4, 5]
    history = await store.history(LINE_FLOW)
    assert len(history) == 5
    assert sorted(v.files.prompts["en"] for v in history[:4]) == sorted(c.prompts["en"] for c in contents)
    assert (await store.published(LINE_FLOW)).number in {2, 3, 4, 5}
    entries = [e for e in await AuditLog(sql).recent() if e.action == "publish"]
    assert len(entries) == 5


def test_diff_is_unified_per_file_and_empty_when_equal() -> None:
    assert diff_files(START, START) == ""
    added = FlowFiles(START.flow, {**START.prompts, "de": "language: de-DE\nprompts:\n  welcome: Hallo.\n"})
    text = diff_files(START, added, a_label="version 1", b_label="draft")
    assert text.splitlines()[:3] == ["--- /dev/null", "+++ draft/prompts/de.yaml", "@@ -0,0 +1,3 @@"]
    assert FlowStore.diff(START, added) == diff_files(START, added)


def test_bad_prompt_files_are_located_never_a_traceback() -> None:
    odd = FlowFiles(START.flow, {**START.prompts, "en": "language: en-US\nprompts:\n  welcome: [1, 2]\n"})
    with pytest.raises(FlowInvalid) as caught:
        compile_files(odd, "flows/support.yaml", prompts_source="prompts")
    assert caught.value.lines() == ["prompts/en.yaml line 3: prompt 'welcome' must be a non-empty text"]
    with pytest.raises(FlowInvalid) as caught:
        compile_files(FlowFiles(START.flow, {"../evil": "x"}))
    assert "is not a language code" in str(caught.value)
    with pytest.raises(FlowInvalid) as caught:
        compile_files(START, language="de")
    assert caught.value.lines() == ["prompts/de.yaml: the line speaks 'de' but there are no prompts for it"]


def test_files_round_trip_through_a_directory(tmp_path: Path) -> None:
    written = write_files(START, tmp_path)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in written) == [
        "flows/support.yaml",
        "prompts/en.yaml",
    ]
    assert read_files(tmp_path / "flows" / "support.yaml", tmp_path / "prompts") == START
    with pytest.raises(FlowInvalid) as caught:
        read_files(tmp_path / "missing.yaml", tmp_path / "prompts")
    assert caught.value.lines()[0].startswith(f"{tmp_path / 'missing.yaml'}: cannot be read")
