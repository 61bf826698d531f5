"""`ivr accounts …`: console accounts from the command line (the first admin starts here)."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from ivr.config import Settings
from ivr.store.accounts import LANGUAGES, Account, AccountError, AccountStore, Role
from ivr.store.audit import AuditLog
from ivr.store.backends import build_stores

T = TypeVar("T")


def _actor() -> str:
    """Changes from the command line are attributed to the operating-system user."""
    return f"cli:{os.environ.get('USER') or getpass.getuser()}"


def _with_accounts(work: Callable[[AccountStore, AuditLog], Awaitable[T]]) -> T:
    async def run() -> T:
        stores = build_stores(Settings.from_env(serving=False).database_url)
        await stores.open()
        try:
            return await work(AccountStore(stores.sql), AuditLog(stores.sql))
        finally:
            await stores.close()

    return asyncio.run(run())


def _password(args: argparse.Namespace) -> str:
    """From stdin with --password-stdin (scripts), else asked twice without echo."""
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != first:
        raise AccountError("the two passwords differ")
    return first


def _skills(text: str) -> list[str]:
    return [s.strip().lower() for s in text.split(",") if s.strip()]


def cmd_add(args: argparse.Namespace) -> int:
    password = _password(args)

    async def add(accounts: AccountStore, audit: AuditLog) -> None:
        account = await accounts.create(
            args.username,
            password,
            Role(args.role),
            display_name=args.name,
            phone=args.phone,
            skills=_skills(args.skills),
            language=args.language,
        )
        await audit.record(_actor(), "account.create", account.username, account.role.value)

    _with_accounts(add)
    print(f"Created {args.role} account '{args.username}'.")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    async def listing(accounts: AccountStore, _: AuditLog) -> list[Any]:
        return await accounts.list()

    for a in _with_accounts(listing):
        state = " (disabled)" if a.disabled else ""
        skills = ", ".join(a.skills) or "-"
        print(
            f"{a.username:<20} {a.role:<11} {a.display_name}{state}  skills: {skills}  language: {a.language}"
        )
    return 0


def cmd_passwd(args: argparse.Namespace) -> int:
    password = _password(args)

    async def change(accounts: AccountStore, audit: AuditLog) -> None:
        await accounts.set_password(args.username, password)
        await audit.record(_actor(), "account.update", args.username, "password reset")

    _with_accounts(change)
    print(f"Password changed for '{args.username}'; their browsers are signed out.")
    return 0


async def _existing(accounts: AccountStore, username: str) -> Account:
    account = await accounts.get(username)
    if account is None:
        raise AccountError(f"there is no account called '{username}'")
    return account


def cmd_set(args: argparse.Namespace) -> int:
    async def change(accounts: AccountStore, audit: AuditLog) -> str:
        account = await _existing(accounts, args.username)
        await accounts.update(
            account.username,
            role=account.role,
            display_name=account.display_name if args.name is None else args.name,
            phone=account.phone if args.phone is None else args.phone,
            skills=account.skills if args.skills is None else _skills(args.skills),
            disabled=account.disabled,
            language=args.language,
        )
        changed = {k: v for k, v in vars(args).items() if k in _SETTABLE and v is not None}
        detail = " ".join(f"{k}={v}" for k, v in changed.items()) or "nothing"
        await audit.record(_actor(), "account.update", account.username, detail)
        return detail

    detail = _with_accounts(change)
    print(f"Changed '{args.username}': {detail}.")
    return 0


_SETTABLE = ("name", "phone", "skills", "language")


def cmd_disable(args: argparse.Namespace) -> int:
    async def disable(accounts: AccountStore, audit: AuditLog) -> None:
        account = await _existing(accounts, args.username)
        await accounts.update(
            account.username,
            role=account.role,
            display_name=account.display_name,
            phone=account.phone,
            skills=account.skills,
            disabled=True,
        )
        await audit.record(_actor(), "account.update", account.username, "disabled")

    _with_accounts(disable)
    print(f"Disabled '{args.username}'; their browsers are signed out.")
    return 0


_LANGUAGE_HELP = "the language the agent hears the desk in (the whisper before each caller); default en"


def add_parser(sub: Any) -> None:
    accounts = sub.add_parser("accounts", help="console accounts: admins, supervisors, agents")
    actions = accounts.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="create an account (asks for the password)")
    add.add_argument("username")
    add.add_argument("--role", choices=[r.value for r in Role], required=True)
    add.add_argument("--name", default="", help="display name")
    add.add_argument("--phone", default="", help="where agents are rung (E.164, sip: or client:)")
    add.add_argument("--skills", default="", help="comma-separated, e.g. en,repairs")
    add.add_argument("--language", choices=LANGUAGES, default="en", help=_LANGUAGE_HELP)
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    add.set_defaults(run=_guarded(cmd_add))
    change = actions.add_parser("set", help="change an account's name, phone, skills or language")
    change.add_argument("username")
    change.add_argument("--name", help="display name")
    change.add_argument("--phone", help="where agents are rung (E.164, sip: or client:)")
    change.add_argument("--skills", help="comma-separated, e.g. en,repairs (replaces the list)")
    change.add_argument("--language", choices=LANGUAGES, help=_LANGUAGE_HELP)
    change.set_defaults(run=_guarded(cmd_set))
    listing = actions.add_parser("list", help="every account and its role")
    listing.set_defaults(run=_guarded(cmd_list))
    passwd = actions.add_parser("passwd", help="set a new password (signs the account out everywhere)")
    passwd.add_argument("username")
    passwd.add_argument("--password-stdin", action="store_true")
    passwd.set_defaults(run=_guarded(cmd_passwd))
    disable = actions.add_parser("disable", help="stop an account signing in (signs it out everywhere)")
    disable.add_argument("username")
    disable.set_defaults(run=_guarded(cmd_disable))


def _guarded(command: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            return command(args)
        except AccountError as exc:
            print(f"ivr accounts: {exc}", file=sys.stderr)
            return 1

    return run
