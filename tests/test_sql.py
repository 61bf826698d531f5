"""The console stores' SQL layer behaves the same on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from ivr.store.accounts import AccountError, AccountStore, Role
from ivr.store.sql import Conflict, Sql, SQLiteSql, Statement
from ivr.store.sqlite import SQLiteDatabase
from tests.conftest import undo_later_migrations


async def test_rows_come_back_as_mappings_with_placeholders_in_order(sql: Sql) -> None:
    await sql.execute(
        "INSERT INTO audit_log (id, at, actor, action, subject, detail) VALUES ($1, $2, $3, $4, $5, $6)",
        "a1",
        1.5,
        "ana",
        "publish",
        "support",
        "{}",
    )
    row = await sql.fetchone("SELECT actor, at FROM audit_log WHERE id = $1", "a1")
    assert row == {"actor": "ana", "at": 1.5}
    assert await sql.fetchone("SELECT actor FROM audit_log WHERE id = $1", "nope") is None
    assert await sql.execute("UPDATE audit_log SET actor = $2 WHERE id = $1", "a1", "bo") == 1


async def test_a_batch_that_conflicts_keeps_nothing(sql: Sql) -> None:
    insert = (
        "INSERT INTO audit_log (id, at, actor, action, subject, detail) VALUES ($1, 0, 'x', 'y', 'z', '')"
    )
    with pytest.raises(Conflict) as caught:
        await sql.atomic(
            [
                Statement(insert, ("b1",)),
                Statement("UPDATE audit_log SET actor = 'q' WHERE id = $1", ("missing",), expect_rows=1),
            ]
        )
    assert caught.value.index == 1
    assert await sql.fetch("SELECT id FROM audit_log") == []


async def test_a_batch_returns_what_its_statements_return(sql: Sql) -> None:
    results = await sql.atomic(
        [
            Statement(
                "INSERT INTO audit_log (id, at, actor, action, subject, detail)"
                " VALUES ($1, 2.0, 'ana', 'a', 's', '') RETURNING id",
                ("c1",),
                expect_rows=1,
            ),
            Statement("UPDATE audit_log SET detail = 'done' WHERE id = $1", ("c1",), expect_rows=1),
        ]
    )
    assert results == [[{"id": "c1"}], []]
    assert await sql.fetchone("SELECT detail FROM audit_log WHERE id = 'c1'") == {"detail": "done"}


async def test_an_accounts_language_stays_unless_it_is_changed(sql: Sql) -> None:
    accounts = AccountStore(sql)
    await accounts.create("jonas", "j" * 12, Role.AGENT, skills=["de"], language="de")
    await accounts.update(
        "jonas", role=Role.AGENT, display_name="Jonas", phone="", skills=["de"], disabled=False
    )
    assert (jonas := await accounts.get("jonas")) is not None and jonas.language == "de"
    await accounts.update(
        "jonas", role=Role.AGENT, display_name="Jonas", phone="", skills=["de"], disabled=False, language="sv"
    )
    assert [a.language for a in await accounts.list()] == ["sv"]
    with pytest.raises(AccountError, match="not 'fr'"):
        await accounts.create("alex", "a" * 12, Role.AGENT, language="fr")


async def test_accounts_made_before_account_languages_hear_the_desk_in_english(tmp_path: Path) -> None:
    path = tmp_path / "ivr.db"
    db = SQLiteDatabase(path)
    await AccountStore(SQLiteSql(db)).create("alex", "a" * 12, Role.AGENT, skills=["de"])
    await db.close()
    conn = sqlite3.connect(path)  # as the release before migration 13 left it (and 14 to 20)
    conn.execute("ALTER TABLE accounts DROP COLUMN language")
    undo_later_migrations(conn)
    conn.execute("DROP TABLE insight_waits")
    conn.execute("DROP TABLE insight_calls")
    conn.execute("CREATE TABLE insight_calls (call_sid text PRIMARY KEY, ended_at double precision NOT NULL)")
    conn.execute("CREATE INDEX insight_calls_ended ON insight_calls (ended_at)")
    conn.execute("PRAGMA user_version = 12")
    conn.commit()
    conn.close()
    db = SQLiteDatabase(path)  # migrates
    alex = await AccountStore(SQLiteSql(db)).get("alex")
    await db.close()
    assert alex is not None and (alex.skills, alex.language) == (("de",), "en")
