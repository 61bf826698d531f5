"""Console accounts, sign-in sessions, sign-in rate limits and the audit log.

Everyone who uses the web console has an account with one role. Roles are ranked: an
admin may do what a supervisor may, and a supervisor what an agent may.

Passwords are hashed with scrypt (memory-hard, in the standard library), off the event
loop. Session tokens are random and stored only as SHA-256 digests, so a copy of the
database does not sign anybody in.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from ivr.store.sql import Row, Sql, Statement


class Role(StrEnum):
    AGENT = "agent"
    """Takes callers, callbacks and voicemails; sees only agent pages."""
    SUPERVISOR = "supervisor"
    """Edits, tests, publishes and rolls back call flows (and may work as an agent)."""
    ADMIN = "admin"
    """Manages accounts (and may do everything else)."""

    def allows(self, needed: Role) -> bool:
        return _RANK[self] >= _RANK[needed]


_RANK = {Role.AGENT: 0, Role.SUPERVISOR: 1, Role.ADMIN: 2}
USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{1,31}")
LANGUAGES = ("en", "de", "sv")
"""The languages the desk can speak to an agent in (`ivr.agents.whisper` has each one's words)."""
MIN_PASSWORD = 10
SESSION_IDLE = 2 * 3600.0
"""A session unused this long is over (an unattended browser)."""
SESSION_MAX = 12 * 3600.0
"""No session outlives a long shift."""
FAILURE_WINDOW = 15 * 60.0
MAX_FAILURES = {"user": 5, "ip": 20}
"""Failed sign-ins checked at full speed within `FAILURE_WINDOW` (counting those still being
checked): per account *from one address* (`user:name@address`), and per address. The account
alone is never the key: then anyone could lock out anyone, an admin included, by guessing."""
SLOW_DOWN = 30.0
"""Past its allowance a key is slowed, not locked: the next attempt may be checked this long
after the window opened, the one after that twice as long again, and so on (30 s, 90 s,
210 s, 450 s), until the window ends."""

_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


class AccountError(ValueError):
    """A request about accounts that cannot be done; the message says why."""


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=64 * 1024 * 1024, dklen=32)


def hash_password(password: str) -> str:
    """`scrypt$n$r$p$salt$hash` (base64); the parameters travel with the hash so they can grow."""
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, **_SCRYPT)
    b64 = base64.b64encode
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        actual = _scrypt(password, base64.b64decode(salt), int(n), int(r), int(p))
    except ValueError:
        return False
    return hmac.compare_digest(actual, base64.b64decode(digest))


_DUMMY_HASH = hash_password(secrets.token_hex(8))
"""Checked against when an account does not exist, so timing does not tell which names do."""


@dataclass(frozen=True, slots=True)
class Account:
    username: str
    role: Role
    display_name: str
    phone: str
    """Where the service rings this agent (E.164, `sip:` or `client:`); empty for non-agents."""
    skills: tuple[str, ...]
    """What callers this agent may take, e.g. `en`, `de`, `repairs`; routing matches on these."""
    disabled: bool = False
    language: str = "en"
    """The language the desk speaks to this agent in (the whisper before each caller)."""


@dataclass(frozen=True, slots=True)
class FailedSignIns:
    """Failed sign-ins to an account since its holder last signed in, told to them when they do."""

    count: int
    last_at: float
    last_from: str
    """The client address of the latest one."""


@dataclass(frozen=True, slots=True)
class SignedIn:
    account: Account
    csrf_token: str
    """Every state-changing request of this session must carry it."""


def _account(row: Row) -> Account:
    return Account(
        username=row["username"],
        role=Role(row["role"]),
        display_name=row["display_name"],
        phone=row["phone"],
        skills=tuple(json.loads(row["skills"])),
        disabled=bool(row["disabled"]),
        language=row["language"],
    )


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


_COLUMNS = "username, role, display_name, phone, skills, disabled, language"
_JOINED = ", ".join(f"a.{column}" for column in _COLUMNS.split(", "))


class AccountStore:
    def __init__(self, sql: Sql, *, clock: Any = time.time) -> None:
        self.sql = sql
        self.clock = clock

    # accounts

    async def create(
        self,
        username: str,
        password: str,
        role: Role,
        *,
        display_name: str = "",
        phone: str = "",
        skills: Sequence[str] = (),
        language: str = "en",
    ) -> Account:
        if not USERNAME.fullmatch(username):
            raise AccountError("a username is 2-32 characters: lower-case letters, digits, '.', '_' or '-'")
        check_language(language)
        check_phone(phone)
        check_password(password)
        hashed = await asyncio.to_thread(hash_password, password)
        changed = await self.sql.execute(
            "INSERT INTO accounts (username, role, display_name, password_hash, phone, skills, disabled,"
            " created_at, language) VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $8)"
            " ON CONFLICT (username) DO NOTHING",
            username,
            role.value,
            display_name or username,
            hashed,
            phone,
            json.dumps(sorted(set(skills))),
            float(self.clock()),
            language,
        )
        if changed != 1:
            raise AccountError(f"there is already an account called '{username}'")
        account = await self.get(username)
        assert account is not None
        return account

    async def get(self, username: str) -> Account | None:
        row = await self.sql.fetchone(f"SELECT {_COLUMNS} FROM accounts WHERE username = $1", username)
        return _account(row) if row else None

    async def list(self) -> list[Account]:
        return [
            _account(r) for r in await self.sql.fetch(f"SELECT {_COLUMNS} FROM accounts ORDER BY username")
        ]

    async def update(
        self,
        username: str,
        *,
        role: Role,
        display_name: str,
        phone: str,
        skills: Sequence[str],
        disabled: bool,
        language: str | None = None,
    ) -> None:
        """Change an account; `language` None keeps the one it has."""
        if language is not None:
            check_language(language)
        check_phone(phone)
        changed = await self.sql.execute(
            "UPDATE accounts SET role = $2, display_name = $3, phone = $4, skills = $5, disabled = $6,"
            " language = COALESCE($7, language) WHERE username = $1",
            username,
            role.value,
            display_name or username,
            phone,
            json.dumps(sorted(set(skills))),
            int(disabled),
            language,
        )
        if changed != 1:
            raise AccountError(f"there is no account called '{username}'")
        if disabled:
            await self.sql.execute("DELETE FROM console_sessions WHERE username = $1", username)

    async def set_password(self, username: str, password: str) -> None:
        check_password(password)
        hashed = await asyncio.to_thread(hash_password, password)
        if (
            await self.sql.execute(
                "UPDATE accounts SET password_hash = $2 WHERE username = $1", username, hashed
            )
            != 1
        ):
            raise AccountError(f"there is no account called '{username}'")
        # A new password signs every browser out.
        await self.sql.execute("DELETE FROM console_sessions WHERE username = $1", username)

    async def authenticate(self, username: str, password: str) -> Account | None:
        """The account if the password is right and the account enabled; None otherwise."""
        row = await self.sql.fetchone(
            f"SELECT {_COLUMNS}, password_hash FROM accounts WHERE username = $1", username
        )
        stored = row["password_hash"] if row else _DUMMY_HASH
        ok = await asyncio.to_thread(verify_password, password, stored)
        if not ok or row is None or row["disabled"]:
            return None
        return _account(row)

    # sessions

    async def start_session(self, username: str) -> tuple[str, str]:
        """(session token for the cookie, CSRF token for the pages)."""
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        now = float(self.clock())
        await self.sql.execute(
            "INSERT INTO console_sessions (token_hash, username, csrf_token, created_at, seen_at)"
            " VALUES ($1, $2, $3, $4, $4)",
            _digest(token),
            username,
            csrf,
            now,
        )
        return token, csrf

    async def session(self, token: str) -> SignedIn | None:
        """Who holds this session token, if it is current; touching it keeps it alive."""
        now = float(self.clock())
        row = await self.sql.fetchone(
            f"SELECT s.csrf_token, s.created_at, s.seen_at, {_JOINED}"
            " FROM console_sessions s JOIN accounts a ON a.username = s.username WHERE s.token_hash = $1",
            _digest(token),
        )
        if row is None:
            return None
        if row["disabled"] or now - row["seen_at"] > SESSION_IDLE or now - row["created_at"] > SESSION_MAX:
            await self.end_session(token)
            return None
        if now - row["seen_at"] > 60:
            await self.sql.execute(
                "UPDATE console_sessions SET seen_at = $2 WHERE token_hash = $1", _digest(token), now
            )
        return SignedIn(_account(row), row["csrf_token"])

    async def end_session(self, token: str) -> None:
        await self.sql.execute("DELETE FROM console_sessions WHERE token_hash = $1", _digest(token))

    # sign-in rate limits

    async def reserve_attempt(self, keys: Sequence[str]) -> float:
        """Count a sign-in attempt against every key (`user:…`, `ip:…`) before its password is
        checked; returns 0 to go ahead, else the seconds until sign-in may be tried again.

        The count and the check are one statement per key (`INSERT … ON CONFLICT DO UPDATE …
        RETURNING`), all in one transaction, so attempts sent at once, to one instance or to
        several, each see the count the others left: no more than the limit are ever checked.
        Past the allowance each attempt has its own time (`SLOW_DOWN`): its count is its place in
        the queue. A refused attempt gives its reservation back (it checked nothing), so waiting
        and trying again gets the same place, and someone slowed by address cannot keep adding
        to other people's counts.
        """
        now = float(self.clock())
        counted = await self.sql.atomic([Statement(_RESERVE, (key, now, FAILURE_WINDOW)) for key in keys])
        wait = 0.0
        for key, [row] in zip(keys, counted, strict=True):
            extra = row["failures"] - MAX_FAILURES[key.split(":", 1)[0]]
            wait = max(wait, _slowed(extra, row["first_at"], now))
        if wait > 0:
            await self.release_attempt(keys)
        return wait

    async def release_attempt(self, keys: Sequence[str]) -> None:
        """Give back one reserved attempt: the password was right (or never checked).

        Only this attempt's own count is taken off; failures of attempts still in flight stay
        counted, so a right password sent among many wrong ones does not wipe them.
        """
        give_back = "UPDATE login_failures SET failures = failures - 1 WHERE key = $1 AND failures > 0"
        await self.sql.atomic([Statement(give_back, (key,)) for key in keys])

    async def note_failure(self, username: str, address: str) -> int:
        """Count a wrong password against the account (if there is one) for its holder to hear of;
        returns the failures since they last signed in (0: no such account)."""
        [rows] = await self.sql.atomic(
            [
                Statement(
                    "UPDATE accounts SET failed_sign_ins = failed_sign_ins + 1, last_failed_at = $2,"
                    " last_failed_from = $3 WHERE username = $1 RETURNING failed_sign_ins",
                    (username, float(self.clock()), address),
                )
            ]
        )
        return int(rows[0]["failed_sign_ins"]) if rows else 0

    async def take_failures(self, username: str) -> FailedSignIns | None:
        """The failed sign-ins since the holder last signed in (None if none), now told: counted
        from zero again (unless one more came in meanwhile, to be told next time)."""
        row = await self.sql.fetchone(
            "SELECT failed_sign_ins, last_failed_at, last_failed_from FROM accounts"
            " WHERE username = $1 AND failed_sign_ins > 0",
            username,
        )
        if row is None:
            return None
        await self.sql.execute(
            "UPDATE accounts SET failed_sign_ins = 0 WHERE username = $1 AND failed_sign_ins = $2",
            username,
            row["failed_sign_ins"],
        )
        count, last_at = int(row["failed_sign_ins"]), float(row["last_failed_at"])
        return FailedSignIns(count, last_at, row["last_failed_from"])


def _slowed(extra: int, first_at: float, now: float) -> float:
    """Seconds until the attempt `extra` places past the allowance may be checked (0: now).

    Its time is `SLOW_DOWN * (2**extra - 1)` after the window opened, and never later than the
    window's end, when the count starts again."""
    if extra <= 0:
        return 0.0
    due = first_at + min(SLOW_DOWN * (2 ** min(extra, 32) - 1), FAILURE_WINDOW)
    return max(0.0, due - now)


_RESERVE = (
    "INSERT INTO login_failures (key, failures, first_at) VALUES ($1, 1, $2)"
    " ON CONFLICT (key) DO UPDATE SET"
    " failures = CASE WHEN $2 - login_failures.first_at > $3 THEN 1"
    " ELSE login_failures.failures + 1 END,"
    " first_at = CASE WHEN $2 - login_failures.first_at > $3 THEN $2"
    " ELSE login_failures.first_at END"
    " RETURNING failures, first_at"
)
"""One attempt more for a key (a new window once the old one has passed), and the count now."""


AGENT_PHONE = re.compile(r"\+[1-9][0-9]{1,14}|(?:sip|client):[!-~]{1,200}")
"""What an agent's phone may be: an E.164 number in ASCII digits (the form Twilio dials and
reports; `+١٥٥٥…` in Arabic-Indic digits looks like a number and is none), or a SIP address or
Twilio Client identity as IVR_AGENT_NUMBER takes them."""


def check_phone(phone: str) -> None:
    if phone and not AGENT_PHONE.fullmatch(phone):
        raise AccountError(
            f"an agent's phone is an E.164 number like +15551234567 (or sip:… / client:…), not '{phone}'"
        )


def check_language(language: str) -> None:
    if language not in LANGUAGES:
        raise AccountError(f"an agent's language is one of {', '.join(LANGUAGES)}, not '{language}'")


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"a password needs at least {MIN_PASSWORD} characters")
