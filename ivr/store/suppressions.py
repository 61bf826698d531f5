"""Opt-outs that outlive an erasure: kept as a keyed digest of the number, never the number.

A customer who said "never call me again" and later had everything about them erased (GDPR
art. 17) must still never be called again: once someone objects to direct marketing their data
may not be used for it (art. 21(3)), and after erasure the only way to honour that is to
remember that this number objected. So `ivr.store.privacy.erase_number` moves an opt-out here
as HMAC-SHA256(deployment key, number), and `OutreachStore.enqueue` puts the opt-out back when
the number turns up again in new data (a later order, a campaign event) before anyone calls it.

The digest is pseudonymous, not anonymous: phone numbers are few enough that someone holding
both the database and its key could try them all. It is the least the line can keep and
still keep its promise; docs/security.md says so. The key is random per deployment (one row in
`privacy_key`), so digests from two deployments cannot be matched against each other.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable

from ivr.store.sql import Sql, Statement

_CHUNK = 500
"""Digests looked up per query (well under either database's limit on parameters)."""


class KeptOptOuts:
    """The digests of erased numbers that had opted out."""

    def __init__(self, sql: Sql) -> None:
        self.sql = sql
        self._key: bytes | None = None

    async def _digest_key(self) -> bytes:
        if self._key is None:
            await self.sql.execute(
                "INSERT INTO privacy_key (id, secret) VALUES (1, $1) ON CONFLICT (id) DO NOTHING",
                secrets.token_hex(32),
            )
            row = await self.sql.fetchone("SELECT secret FROM privacy_key WHERE id = 1")
            assert row is not None  # inserted just now, or by an earlier call
            self._key = bytes.fromhex(str(row["secret"]))
        return self._key

    async def digest(self, number: str) -> str:
        return hmac.new(await self._digest_key(), number.encode(), hashlib.sha256).hexdigest()

    async def keep(self, number: str) -> Statement:
        """The statement that keeps `number`'s opt-out, if it has one, as a digest: run it in
        the erasure's transaction, before the opt-out row is deleted."""
        return Statement(
            "INSERT INTO kept_optouts (digest, at) SELECT $2, at FROM contact_optouts WHERE number = $1"
            " ON CONFLICT (digest) DO NOTHING",
            (number, await self.digest(number)),
        )

    async def among(self, numbers: Iterable[str]) -> set[str]:
        """Which of `numbers` opted out before their data was erased."""
        by_digest = {await self.digest(number): number for number in set(numbers)}
        digests, found = list(by_digest), set[str]()
        for start in range(0, len(digests), _CHUNK):
            chunk = digests[start : start + _CHUNK]
            marks = ", ".join(f"${i}" for i in range(1, len(chunk) + 1))
            rows = await self.sql.fetch(f"SELECT digest FROM kept_optouts WHERE digest IN ({marks})", *chunk)
            found |= {by_digest[str(row["digest"])] for row in rows}
        return found

    async def forget(self, number: str) -> None:
        """The customer asked to be called again: the kept opt-out goes too."""
        await self.sql.execute("DELETE FROM kept_optouts WHERE digest = $1", await self.digest(number))
