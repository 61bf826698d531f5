"""Flows and their prompts as versions in the database: a draft, the published one, history.

Supervisors edit a draft; publishing validates it and makes it the version new calls get,
in one transaction with its audit entry (who, when, and the diff). A call keeps the version
it started on (`CallSession.flow_version`), so versions are never changed or deleted, and
rolling back only moves the published pointer to an earlier one.

Concurrent changes are caught, never merged: a draft carries a revision that each save
must name (`DraftConflict` otherwise), and the published pointer is moved only from the
number it was read at. Version numbers are computed here (no autoincrement: the same SQL
runs on SQLite and PostgreSQL) and guarded by the primary key, so two publishers racing
get two numbers, never one half-written version.

The files in `flows/` and `prompts/` are the starting content: `seed` stores them as
version 1 the first time an instance starts on an empty database.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass

from ivr.flow.files import LINE_FLOW, CompiledFlow, FlowFiles, compile_files, diff_files
from ivr.store.audit import AuditLog
from ivr.store.sql import Conflict, Row, Sql, Statement

_RETRIES = 5
"""Attempts at moving the published pointer while other publishers keep moving it first."""


@dataclass(frozen=True, slots=True)
class FlowVersion:
    name: str
    number: int
    """1, 2, 3…; never reused, never changed."""
    files: FlowFiles
    published_at: float
    by: str
    """Who published it (a console username, or `cli:<user>`)."""
    note: str
    is_current: bool
    """This is the version new calls get."""


@dataclass(frozen=True, slots=True)
class Draft:
    name: str
    files: FlowFiles
    revision: int
    """Goes up by one on every save; a save must name the revision it was edited from."""
    updated_by: str
    updated_at: float
    base_version: int
    """The published version this draft was started from (or last published as)."""


class FlowStoreError(ValueError):
    """A lifecycle request that cannot be done; the message says why."""

    code = "flow_store_error"


class FlowNotFound(FlowStoreError, LookupError):
    code = "flow_not_found"


class DraftConflict(FlowStoreError):
    """Someone saved the draft after it was opened; saving would overwrite their work."""

    code = "draft_conflict"

    def __init__(self, draft: Draft) -> None:
        self.draft = draft
        """The draft as it is now (their version)."""
        super().__init__(
            f"the draft was changed by {draft.updated_by} at {_when(draft.updated_at)} "
            f"(revision {draft.revision}) after you opened it; nothing was saved. "
            "Reload the draft, apply your change again and save."
        )


def _when(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at))


# The store


_VERSION_COLUMNS = "name, number, flow, prompts, published_at, published_by, note"
_DRAFT_COLUMNS = "name, flow, prompts, revision, base_version, updated_by, updated_at"


_GUIDE_KEY = "guides/"
"""The `prompts` column holds a version's files besides the flow: each language's prompts under
its code, each troubleshooting guide under `guides/<name>` (no language code has a slash), so
guides are versioned with the flow without a column of their own."""


def _prompts_json(files: FlowFiles) -> str:
    stored = {**files.prompts, **{_GUIDE_KEY + name: text for name, text in files.guides.items()}}
    return json.dumps(stored, sort_keys=True, ensure_ascii=False)


def _files(row: Row) -> FlowFiles:
    stored: dict[str, str] = json.loads(row["prompts"])
    prompts = {key: text for key, text in stored.items() if not key.startswith(_GUIDE_KEY)}
    guides = {key[len(_GUIDE_KEY) :]: text for key, text in stored.items() if key.startswith(_GUIDE_KEY)}
    return FlowFiles(row["flow"], prompts, guides)


def _draft(row: Row) -> Draft:
    return Draft(
        name=row["name"],
        files=_files(row),
        revision=int(row["revision"]),
        updated_by=row["updated_by"],
        updated_at=float(row["updated_at"]),
        base_version=int(row["base_version"]),
    )


def _version(row: Row, current: int | None) -> FlowVersion:
    return FlowVersion(
        name=row["name"],
        number=int(row["number"]),
        files=_files(row),
        published_at=float(row["published_at"]),
        by=row["published_by"],
        note=row["note"],
        is_current=int(row["number"]) == current,
    )


class FlowStore:
    """The lifecycle of a flow: draft → publish → (rollback), every change audited."""

    def __init__(
        self,
        sql: Sql,
        *,
        clock: Callable[[], float] = time.time,
        language: str = "en",
        languages: tuple[str, ...] = (),
    ) -> None:
        self.sql = sql
        self.clock = clock
        self.language = language
        """The line's default language: a version without prompts in it is refused."""
        self.languages = languages
        """Every language the line serves: each must have prompts too."""
        self.audit = AuditLog(sql, clock=clock)
        self.listeners: list[Callable[[str, int], None]] = []
        """Told (name, number) after a publish or rollback here commits, so this process's
        line switches at once; other instances notice on their own (see `FlowLibrary`)."""

    @staticmethod
    def diff(a: FlowFiles, b: FlowFiles) -> str:
        return diff_files(a, b)

    def compile(self, files: FlowFiles, name: str = LINE_FLOW) -> CompiledFlow:
        return compile_files(files, f"flows/{name}.yaml", language=self.language, languages=self.languages)

    # reading

    async def published_number(self, name: str) -> int:
        """The version new calls get; one indexed read, cheap enough to ask often."""
        row = await self.sql.fetchone("SELECT number FROM flow_published WHERE name = $1", name)
        if row is None:
            raise FlowNotFound(f"flow '{name}' has no published version")
        return int(row["number"])

    async def published(self, name: str) -> FlowVersion:
        return await self.version(name, await self.published_number(name))

    async def version(self, name: str, number: int) -> FlowVersion:
        row = await self.sql.fetchone(
            f"SELECT {_VERSION_COLUMNS}, (SELECT p.number FROM flow_published p WHERE p.name = $1) AS current"
            " FROM flow_versions WHERE name = $1 AND number = $2",
            name,
            number,
        )
        if row is None:
            raise FlowNotFound(f"flow '{name}' has no version {number}")
        return _version(row, row["current"])

    async def history(self, name: str) -> list[FlowVersion]:
        """Every version, newest first."""
        rows = await self.sql.fetch(
            f"SELECT {_VERSION_COLUMNS} FROM flow_versions WHERE name = $1 ORDER BY number DESC", name
        )
        current = await self.sql.fetchone("SELECT number FROM flow_published WHERE name = $1", name)
        number = int(current["number"]) if current else None
        return [_version(row, number) for row in rows]

    async def draft(self, name: str) -> Draft:
        row = await self.sql.fetchone(f"SELECT {_DRAFT_COLUMNS} FROM flow_drafts WHERE name = $1", name)
        if row is None:
            raise FlowNotFound(f"flow '{name}' has no draft")
        return _draft(row)

    # changing

    async def save_draft(self, name: str, files: FlowFiles, *, expected_revision: int, by: str) -> Draft:
        """Keep a work-in-progress draft (it need not be valid yet).

        `expected_revision` is the revision the editor opened; if someone saved since,
        nothing is written and `DraftConflict` says who and when.
        """
        now = float(self.clock())
        args = (name, files.flow, _prompts_json(files), by, now)
        if expected_revision == 0:
            base = await self.sql.fetchone("SELECT number FROM flow_published WHERE name = $1", name)
            statement = Statement(
                f"INSERT INTO flow_drafts ({_DRAFT_COLUMNS}) VALUES ($1, $2, $3, 1, $6, $4, $5)"
                " ON CONFLICT (name) DO NOTHING",
                (*args, int(base["number"]) if base else 0),
                expect_rows=1,
            )
        else:
            statement = Statement(
                "UPDATE flow_drafts SET flow = $2, prompts = $3, revision = revision + 1,"
                " updated_by = $4, updated_at = $5 WHERE name = $1 AND revision = $6",
                (*args, expected_revision),
                expect_rows=1,
            )
        try:
            await self.sql.atomic([statement])
        except Conflict:
            raise DraftConflict(await self.draft(name)) from None
        return await self.draft(name)

    async def publish(
        self,
        name: str,
        *,
        by: str,
        files: FlowFiles | None = None,
        expected_revision: int | None = None,
        note: str = "",
    ) -> FlowVersion:
        """Validate and publish `files` (or the draft), making it the version new calls get.

        Invalid files raise `FlowInvalid` (with locations) before anything is written.
        The version row, the published pointer, the audit entry (with the diff) and the
        draft's new base are written in one transaction. Publishing what is already
        published changes nothing and returns the current version.

        Publishing the draft (`files=None`) with `expected_revision` refuses a draft that
        was saved since (`DraftConflict`). Publishing given files (from the CLI) also moves
        the draft along when it holds no unpublished edits; a draft with edits is kept.
        """
        for _ in range(_RETRIES):
            draft = await self._draft_or_none(name)
            if files is not None:
                content = files
            elif draft is None:
                raise FlowNotFound(f"flow '{name}' has no draft to publish")
            elif expected_revision is not None and draft.revision != expected_revision:
                raise DraftConflict(draft)
            else:
                content = draft.files
            await asyncio.to_thread(self.compile, content, name)  # CPU work, off the event loop
            current = await self._current_or_none(name)
            if current is not None and current.files == content:
                return current
            number = await self._next_number(name)
            now = float(self.clock())
            detail = self._detail(f"version {number}", note, current, content, f"version {number}")
            statements = [
                Statement(
                    f"INSERT INTO flow_versions ({_VERSION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
                    " ON CONFLICT (name, number) DO NOTHING",
                    (name, number, content.flow, _prompts_json(content), now, by, note),
                    expect_rows=1,
                ),
                self._move_pointer(name, current, number, now, by),
                Statement(AuditLog.INSERT, self.audit.entry_args(by, "publish", f"flow:{name}", detail)),
            ]
            draft_index = len(statements)
            if files is None and draft is not None:
                statements.append(self._rebase_draft(name, draft, number))
            elif draft is not None and current is not None and await self._is_clean(draft, current):
                statements.append(self._reset_draft(name, draft, content, number, by, now))
            elif draft is None:
                statements.append(self._insert_draft(name, content, number, by, now))
            try:
                await self.sql.atomic(statements)
            except Conflict as exc:
                if exc.index == draft_index and files is None:
                    raise DraftConflict(await self.draft(name)) from None
                continue  # another publisher or editor moved first: read again and retry
            self._tell(name, number)
            return await self.version(name, number)
        raise FlowStoreError(f"flow '{name}' keeps changing under this publish; try again")

    async def rollback(self, name: str, version: int | None, *, by: str) -> FlowVersion:
        """Make an earlier version the one new calls get (default: the one before the current).

        No version is copied or removed: the published pointer moves back, and the audit
        entry holds the diff from the version callers were getting to the one they get now.
        A draft with no unpublished edits follows; one with edits is kept.
        """
        for _ in range(_RETRIES):
            current = await self._current_or_none(name)
            if current is None:
                raise FlowNotFound(f"flow '{name}' has no published version to roll back")
            if version is None:
                row = await self.sql.fetchone(
                    "SELECT MAX(number) AS number FROM flow_versions WHERE name = $1 AND number < $2",
                    name,
                    current.number,
                )
                if row is None or row["number"] is None:
                    raise FlowStoreError(f"version {current.number} is the first; there is nothing before it")
                target = await self.version(name, int(row["number"]))
            else:
                target = await self.version(name, version)
            if target.number == current.number:
                raise FlowStoreError(f"version {current.number} is already the published version")
            now = float(self.clock())
            summary = f"rolled back to version {target.number}"
            detail = self._detail(summary, "", current, target.files, f"version {target.number}")
            statements = [
                self._move_pointer(name, current, target.number, now, by),
                Statement(AuditLog.INSERT, self.audit.entry_args(by, "rollback", f"flow:{name}", detail)),
            ]
            draft = await self._draft_or_none(name)
            if draft is not None and await self._is_clean(draft, current):
                statements.append(self._reset_draft(name, draft, target.files, target.number, by, now))
            try:
                await self.sql.atomic(statements)
            except Conflict:
                continue
            self._tell(name, target.number)
            return await self.version(name, target.number)
        raise FlowStoreError(f"flow '{name}' keeps changing under this rollback; try again")

    async def seed(self, name: str, files: FlowFiles, *, by: str = "seed") -> bool:
        """First run: store the starting files as version 1, published, and as the draft.

        Does nothing when the flow already has a version (True only when this call seeded).
        Two instances starting at once both try; the primary key lets exactly one win.
        """
        await asyncio.to_thread(self.compile, files, name)
        if await self._current_or_none(name) is not None:
            return False
        now = float(self.clock())
        try:
            await self.sql.atomic(
                [
                    Statement(
                        f"INSERT INTO flow_versions ({_VERSION_COLUMNS}) VALUES ($1, 1, $2, $3, $4, $5, $6)"
                        " ON CONFLICT (name, number) DO NOTHING",
                        (name, files.flow, _prompts_json(files), now, by, "starting content"),
                        expect_rows=1,
                    ),
                    Statement(
                        "INSERT INTO flow_published (name, number, changed_at, changed_by)"
                        " VALUES ($1, 1, $2, $3) ON CONFLICT (name) DO NOTHING",
                        (name, now, by),
                        expect_rows=1,
                    ),
                    Statement(
                        f"INSERT INTO flow_drafts ({_DRAFT_COLUMNS}) VALUES ($1, $2, $3, 1, 1, $4, $5)"
                        " ON CONFLICT (name) DO NOTHING",
                        (name, files.flow, _prompts_json(files), by, now),
                    ),
                    Statement(
                        AuditLog.INSERT,
                        self.audit.entry_args(by, "publish", f"flow:{name}", "version 1: starting content"),
                    ),
                ]
            )
        except Conflict:
            return False
        self._tell(name, 1)
        return True

    # helpers

    async def _draft_or_none(self, name: str) -> Draft | None:
        try:
            return await self.draft(name)
        except FlowNotFound:
            return None

    async def _current_or_none(self, name: str) -> FlowVersion | None:
        try:
            return await self.published(name)
        except FlowNotFound:
            return None

    async def _next_number(self, name: str) -> int:
        row = await self.sql.fetchone("SELECT MAX(number) AS number FROM flow_versions WHERE name = $1", name)
        return int(row["number"] or 0) + 1 if row else 1

    async def _is_clean(self, draft: Draft, current: FlowVersion) -> bool:
        """The draft holds nothing that is not already in the version it is based on."""
        if draft.base_version == current.number:
            return draft.files == current.files
        try:
            base = await self.version(draft.name, draft.base_version)
        except FlowNotFound:
            return False
        return draft.files == base.files

    @staticmethod
    def _move_pointer(name: str, current: FlowVersion | None, number: int, now: float, by: str) -> Statement:
        if current is None:
            return Statement(
                "INSERT INTO flow_published (name, number, changed_at, changed_by) VALUES ($1, $2, $3, $4)"
                " ON CONFLICT (name) DO NOTHING",
                (name, number, now, by),
                expect_rows=1,
            )
        return Statement(
            "UPDATE flow_published SET number = $2, changed_at = $3, changed_by = $4"
            " WHERE name = $1 AND number = $5",
            (name, number, now, by, current.number),
            expect_rows=1,
        )

    @staticmethod
    def _rebase_draft(name: str, draft: Draft, number: int) -> Statement:
        return Statement(
            "UPDATE flow_drafts SET base_version = $2, revision = revision + 1"
            " WHERE name = $1 AND revision = $3",
            (name, number, draft.revision),
            expect_rows=1,
        )

    @staticmethod
    def _reset_draft(
        name: str, draft: Draft, files: FlowFiles, number: int, by: str, now: float
    ) -> Statement:
        return Statement(
            "UPDATE flow_drafts SET flow = $2, prompts = $3, base_version = $4, revision = revision + 1,"
            " updated_by = $5, updated_at = $6 WHERE name = $1 AND revision = $7",
            (name, files.flow, _prompts_json(files), number, by, now, draft.revision),
            expect_rows=1,
        )

    @staticmethod
    def _insert_draft(name: str, files: FlowFiles, number: int, by: str, now: float) -> Statement:
        return Statement(
            f"INSERT INTO flow_drafts ({_DRAFT_COLUMNS}) VALUES ($1, $2, $3, 1, $4, $5, $6)"
            " ON CONFLICT (name) DO NOTHING",
            (name, files.flow, _prompts_json(files), number, by, now),
            expect_rows=1,
        )

    @staticmethod
    def _detail(summary: str, note: str, current: FlowVersion | None, files: FlowFiles, label: str) -> str:
        """The audit entry's text: what changed, then the diff from what callers were getting."""
        was = f" (was version {current.number})" if current else ""
        head = f"{summary}{was}" + (f": {note}" if note else "")
        if current is None:
            return head
        changes = diff_files(current.files, files, a_label=f"version {current.number}", b_label=label)
        return f"{head}\n{changes}"

    def _tell(self, name: str, number: int) -> None:
        for listener in self.listeners:
            listener(name, number)
