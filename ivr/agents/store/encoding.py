"""How desk records sit in the columns both databases share: random ids, context as JSON text."""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping


def new_id() -> str:
    """A record id: lowercase hex, so it sorts the same in SQLite and in any PostgreSQL collation
    (the queue breaks ties on it)."""
    return secrets.token_hex(8)


def encode_context(context: Mapping[str, str]) -> str:
    """What the flow collected, as text (sorted keys: the same context is stored the same way)."""
    return json.dumps(dict(context), sort_keys=True)


def decode_context(raw: str) -> dict[str, str]:
    return {str(k): str(v) for k, v in json.loads(raw).items()}
