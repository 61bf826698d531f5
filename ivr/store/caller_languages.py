"""The language each caller number is greeted in, kept across calls.

A caller who chose German once is greeted in German next time; a customer whose order
was imported with `language=sv` is greeted in Swedish on their first call. The caller's
own choice wins: a later import does not overwrite it. One table, both dialects.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from enum import StrEnum
from typing import Protocol

from ivr.store.sql import Sql


class LanguageSource(StrEnum):
    CHOSEN = "chosen"
    """The caller picked it on a call."""
    ORDERS = "orders"
    """The orders file gave it for the order's phone."""


class CallerLanguages(Protocol):
    """Where the engine asks for, and keeps, a caller number's language."""

    async def language(self, caller: str) -> str | None: ...

    async def remember(self, caller: str, language: str) -> None:
        """The caller chose `language`: greet them in it next time."""
        ...


_UPSERT = (
    "INSERT INTO caller_languages (caller, language, source, updated_at) VALUES ($1, $2, $3, $4)"
    " ON CONFLICT (caller) DO UPDATE SET language = excluded.language, source = excluded.source,"
    " updated_at = excluded.updated_at"
)


class SqlCallerLanguages:
    def __init__(self, sql: Sql, *, clock: Callable[[], float] = time.time) -> None:
        self.sql = sql
        self.clock = clock

    async def language(self, caller: str) -> str | None:
        if not caller:
            return None
        row = await self.sql.fetchone("SELECT language FROM caller_languages WHERE caller = $1", caller)
        return str(row["language"]) if row else None

    async def remember(self, caller: str, language: str) -> None:
        if caller:
            await self.sql.execute(_UPSERT, caller, language, LanguageSource.CHOSEN.value, self.clock())

    async def import_orders(self, languages: dict[str, str]) -> int:
        """Phone → language from an orders file; a number whose caller chose is left alone."""
        now = self.clock()
        for phone, language in languages.items():
            await self.sql.execute(
                f"{_UPSERT} WHERE caller_languages.source = $5",
                phone,
                language,
                LanguageSource.ORDERS.value,
                now,
                LanguageSource.ORDERS.value,
            )
        return len(languages)
