"""Tokens that work once: a record of the ids already used, until they expire anyway.

Signed tokens (the console's test phone hands one to the page each turn) cannot be taken
back by their signature alone: a copy keeps working. Each carries a random id and an
expiry; using it stores the id, and a second use finds it there. The table is shared by
every instance, so a token replayed to another instance is refused too.
"""

from __future__ import annotations

import time
from typing import Any

from ivr.store.sql import Sql


class UsedTokens:
    def __init__(self, sql: Sql, *, clock: Any = time.time) -> None:
        self.sql = sql
        self.clock = clock

    async def use(self, token_id: str, expires_at: float) -> bool:
        """True the first time `token_id` is used, False every time after (one statement, so
        two uses at once on two instances cannot both win)."""
        inserted = await self.sql.execute(
            "INSERT INTO used_tokens (id, expires_at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING",
            token_id,
            expires_at,
        )
        return inserted == 1

    async def forget_expired(self) -> int:
        """Drop ids whose tokens have expired (an expired token is refused by its expiry)."""
        return await self.sql.execute("DELETE FROM used_tokens WHERE expires_at < $1", float(self.clock()))
