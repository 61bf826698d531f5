"""The `ivr` command: serve the line, import data, inspect calls, and call the line."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import os
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ivr.config import ConfigError, Settings
from ivr.console import cli as accounts_cli
from ivr.importer import ImportFailed, ImportKind, parse_file
from ivr.logs import mask_phone
from ivr.outreach import cli as outreach_cli
from ivr.outreach.consent import parse_consent
from ivr.outreach.store import OutreachStore
from ivr.records import Order
from ivr.sources import cli as sources_cli
from ivr.store.backends import Stores, build_stores
from ivr.store.base import CallLog
from ivr.store.caller_languages import SqlCallerLanguages
from ivr.store.privacy import Erasure, SubjectData, erase_number, export_number
from ivr.yamlsource import SourceError

if TYPE_CHECKING:
    from ivr.store.redis import RedisSessionStore


def _settings() -> Settings:
    """The settings of an operator's command: the same as the server's, but no webhook
    secret is needed. A bad setting is a `ConfigError`, reported by `main`."""
    return Settings.from_env(serving=False)


def _stores() -> Stores:
    """The database the operator's commands read and write (live Redis sessions aside)."""
    return build_stores(_settings().database_url)


def cmd_serve(args: argparse.Namespace) -> int:
    from ivr.web.serve import ServeOptions, serve

    return serve(ServeOptions(args.host, args.port, args.workers, args.log_level, args.log_format))


def cmd_import(args: argparse.Namespace) -> int:
    kind = ImportKind(args.kind)
    try:
        records = parse_file(kind, Path(args.file))
        # contact_ok and time_zone (optional): who campaigns may call, and in which time zone.
        consent = parse_consent(kind, Path(args.file).read_text(encoding="utf-8-sig"), args.file)
    except ImportFailed as exc:
        print(f"ivr import: {exc}\nNothing was imported.", file=sys.stderr)
        return 1

    async def write() -> int:
        stores = _stores()
        await stores.open()
        try:
            count = await stores.repository.upsert(records)
            if consent:
                await OutreachStore(stores.sql).save_consent(kind.value, consent)
            spoken = {o.phone: o.language for o in records if isinstance(o, Order) and o.language}
            if spoken:  # greet these customers in their language from their first call
                await SqlCallerLanguages(stores.sql).import_orders(spoken)
            return count
        finally:
            await stores.close()

    count = asyncio.run(write())
    print(f"Imported {count} {kind.value} from {args.file}.")
    for warning in _unreachable(kind, records):
        print(f"warning: {warning}", file=sys.stderr)
    return 0


_KEY_FIELD = {
    ImportKind.ORDERS: "order_number",
    ImportKind.WARRANTIES: "serial_number",
    ImportKind.REPAIRS: "ticket_number",
}


def _unreachable(kind: ImportKind, records: Sequence[object]) -> list[str]:
    """Numbers the current flow will not accept from a caller's keypad (too short or long).

    The data is still imported (the flow may change); the operator is told now rather
    than by a caller who can never get through.
    """
    from ivr.flow.loader import FlowInvalid, load_flow
    from ivr.flow.schema import GatherState
    from ivr.prompts import load_catalogs

    settings = _settings()
    try:
        catalogs = load_catalogs(settings.prompts_dir)
        flow, _ = load_flow(settings.flow_file, catalogs)
    except (FlowInvalid, SourceError):
        return []
    field = _KEY_FIELD[kind]
    out = []
    for gather in flow.states.values():
        if isinstance(gather, GatherState) and gather.save_as == field:
            bad = [
                str(getattr(r, field))
                for r in records
                if not gather.min_digits <= len(str(getattr(r, field))) <= gather.max_digits
            ]
            if bad:
                shown = ", ".join(bad[:5]) + (" ..." if len(bad) > 5 else "")
                out.append(
                    f"{field} {shown} cannot be keyed in by callers: the flow's state '{gather.name}' "
                    f"takes {gather.min_digits} to {gather.max_digits} digits "
                    f"({len(bad)} of {len(records)} {kind.value})"
                )
    return out


def _when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S") if ts else "-"


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _plain(text: str) -> str:
    """Stored text with control characters shown as escapes (``\\x1b``), never sent raw.

    What a caller said, or a record imported before controls were refused, must not
    clear an operator's screen, retitle the terminal or ring its bell."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def cmd_calls(args: argparse.Namespace) -> int:
    async def read() -> int:
        stores = _stores()
        await stores.open()
        store = stores.calls
        try:
            if args.action == "callbacks":
                return await _callbacks(store, args.limit)
            if args.action == "list":
                calls = await store.list_calls(args.limit)
                if args.json:
                    print(
                        json.dumps([{**asdict(c), "caller": mask_phone(c.caller)} for c in calls], indent=2)
                    )
                    return 0
                if not calls:
                    print("No calls recorded yet.")
                print(f"{'CALL SID':36} {'STARTED':19} {'CALLER':14} {'STATUS':12} {'OUTCOME':18} TURNS")
                for c in calls:
                    print(
                        f"{_plain(c.call_sid):36} {_when(c.started_at):19} {_plain(mask_phone(c.caller)):14} "
                        f"{_plain(c.status):12} {_plain(c.outcome) or '-':18} {c.turns}"
                    )
                return 0
            session = await store.get_call(args.call_sid)
            if session is None:
                print(f"ivr calls show: no call {args.call_sid}", file=sys.stderr)
                return 1
            data = asdict(session)
            data["caller"] = mask_phone(session.caller)
            data.pop("last_response")
            if args.json:
                print(json.dumps(data, indent=2))
                return 0
            print(
                f"Call {_plain(session.call_sid)} from {_plain(data['caller'])}"
                f"  started {_when(session.started_at)}"
                f"  status {_plain(session.status)}  outcome {_plain(session.outcome) or '-'}"
            )
            if campaign := session.vars.get("campaign"):
                print(f"Outbound: campaign {_plain(campaign)}, flow {_plain(session.flow)}")
            print(f"Path: {_plain(' -> '.join(session.path))}")
            for entry in session.transcript:
                print(f"  {entry.at:7.1f}s  {_plain(entry.who):6} {_plain(entry.text)}")
            return 0
        finally:
            await stores.close()

    return asyncio.run(read())


CALLBACK_REQUESTED = "callback_requested"
"""The outcome of a call whose caller asked to be called back (the shipped flow's ending)."""


async def _callbacks(store: CallLog, limit: int) -> int:
    """Call-back requests on a line without an agent desk (which lists its own): when, the
    number unmasked (it is what someone must dial) and why the caller wanted a person."""
    wanted = [c for c in await store.list_calls(limit) if c.outcome == CALLBACK_REQUESTED]
    if not wanted:
        print("No call-back requests.")
        return 0
    print(f"{'REQUESTED':19} {'NUMBER':16} {'REASON':20} CALL SID")
    for c in wanted:
        session = await store.get_call(c.call_sid)
        notes = [e.text for e in session.transcript if e.text.startswith("transfer: ")] if session else []
        reason = notes[-1].removeprefix("transfer: ") if notes else "-"
        when, number = _when(c.ended_at or c.started_at), _plain(c.caller)
        print(f"{when:19} {number:16} {_plain(reason):20} {_plain(c.call_sid)}")
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    """Bring the database schema up to date (PostgreSQL; SQLite upgrades itself on open)."""
    url = _settings().database_url
    if url.startswith("sqlite:"):
        stores = build_stores(url)

        async def touch() -> None:
            await stores.open()
            await stores.close()

        asyncio.run(touch())
        print("SQLite database is up to date (it upgrades itself when opened).")
        return 0
    from ivr.store.backends import postgres_target
    from ivr.store.postgres import upgrade

    base, schema = postgres_target(url)
    applied = asyncio.run(upgrade(base, schema=schema))
    print(
        f"Applied {len(applied)} migration(s): {', '.join(applied)}" if applied else "Database is up to date."
    )
    return 0


class _Age(str):
    """An age like '90d', '12h' or '30m' (kept as typed, for messages), with its seconds."""

    seconds: int

    def __new__(cls, text: str) -> _Age:
        units = {"d": 86400, "h": 3600, "m": 60}
        if len(text) < 2 or text[-1] not in units or not text[:-1].isdigit() or int(text[:-1]) < 1:
            raise argparse.ArgumentTypeError(f"'{text}' is not an age like 90d, 12h or 30m")
        age = super().__new__(cls, text)
        age.seconds = int(text[:-1]) * units[text[-1]]
        return age


def cmd_calls_purge(args: argparse.Namespace) -> int:
    async def purge() -> int:
        stores = _stores()
        await stores.open()
        try:
            return await stores.calls.purge(time.time() - args.older_than.seconds)
        finally:
            await stores.close()

    removed = asyncio.run(purge())
    print(f"Removed {removed} call record(s) older than {args.older_than}.")
    return 0


def _privacy_stores() -> tuple[Stores, RedisSessionStore | None]:
    """The database and, with IVR_SESSION_URL, Redis: a number may sit in a live session too."""
    from ivr.store.redis import RedisSessionStore

    settings = _settings()
    stores = build_stores(settings.database_url, settings.session_url)
    sessions = stores.sessions if isinstance(stores.sessions, RedisSessionStore) else None
    return stores, sessions


def cmd_privacy_export(args: argparse.Namespace) -> int:
    """Everything held about a number: a data subject's copy (GDPR art. 15), for a supervisor
    to hand over (`--json`: the whole archive, transcripts and all)."""

    async def export() -> SubjectData:
        stores, sessions = _privacy_stores()
        await stores.open()
        try:
            return await export_number(stores.sql, args.number, sessions)
        finally:
            await stores.close()

    found = asyncio.run(export())
    if args.json:
        print(found.to_json())
        return 0
    print(f"Records about {args.number}:")
    for kind, count in found.counts().items():
        print(f"  {kind.replace('_', ' ')}: {count}")
    for call in found.records["calls"]:
        print(f"\nCall {call['call_sid']} ({call['outcome'] or call['status']}):")
        for entry in call["data"].get("transcript", []):
            print(f"  {entry['who']}: {entry['text']}")
    return 0


def cmd_privacy_erase(args: argparse.Namespace) -> int:
    """Erase everything held about a number (GDPR art. 17): deleted, or anonymised where the
    insights' counts depend on it; audited as done by `--by` (default: the operating user)."""

    async def erase() -> Erasure:
        stores, sessions = _privacy_stores()
        await stores.open()
        try:
            return await erase_number(stores.sql, args.number, actor=args.by, sessions=sessions)
        finally:
            await stores.close()

    try:
        done = asyncio.run(erase())
    except ValueError as exc:
        print(f"ivr privacy erase: {exc}", file=sys.stderr)
        return 2
    what = ", ".join(f"{count} {kind.replace('_', ' ')}" for kind, count in sorted(done.erased.items()))
    print(f"Erased {mask_phone(done.number)}: {what or 'nothing was held'}; {done.files} recording file(s).")
    return 0


def cmd_repair_slots(args: argparse.Namespace) -> int:
    """The repair slot calendar from the shell (as supervisors keep it on the console): add or
    remove free slots, or list them; every change audited as done by `--by`."""
    from datetime import date

    from ivr.store.audit import AuditLog
    from ivr.store.repair_bookings import DayPart, SqlRepairBookings

    async def run() -> int:
        stores = build_stores(_settings().database_url)
        await stores.open()
        try:
            calendar = SqlRepairBookings(stores.sql)
            if args.action == "list":
                for slot in await calendar.slots(date.today()):
                    print(f"{slot.day} {slot.part.value:9} {slot.booking or 'free'}")
                return 0
            day, part = date.fromisoformat(args.day), DayPart(args.part)
            if args.action == "add":
                done = await calendar.add_slot(day, part, args.by)
                why = "the calendar has it already"
            else:
                done = await calendar.remove_slot(day, part)
                why = "it is booked (its caller moves or cancels it) or not in the calendar"
            if not done:
                print(f"ivr repairs slots {args.action}: {day} {part.value}: {why}", file=sys.stderr)
                return 1
            await AuditLog(stores.sql).record(args.by, f"repair_slot.{args.action}", f"{day} {part.value}")
            print(f"{'Added' if args.action == 'add' else 'Removed'} {day} {part.value}.")
            return 0
        finally:
            await stores.close()

    return asyncio.run(run())


def _iso_day(text: str) -> str:
    from datetime import date

    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a day like 2026-12-01") from None


def cmd_privacy_purge(args: argparse.Namespace) -> int:
    """Apply each market's retention now (`ivr serve` does it daily): for cron, or to see it work."""
    from ivr.store.retention import Purged, purge
    from ivr.web.startup import load_market_files

    settings = _settings()
    markets = load_market_files(settings)
    if markets is None:
        print(
            "ivr privacy purge: IVR_MARKETS is not set, so nothing says how long to keep records"
            " (without markets: ivr calls purge --older-than 90d)",
            file=sys.stderr,
        )
        return 2

    async def run() -> Purged:
        stores = build_stores(settings.database_url)
        await stores.open()
        try:
            return await purge(stores.sql, markets.retention, time.time(), markets.shortest_retention)
        finally:
            await stores.close()

    done = asyncio.run(run())
    print(
        f"Deleted {done.call_records} call record(s) and voicemail(s), {done.recordings} recording(s) and"
        f" {done.survey_answers} survey answer(s); emptied {done.transcripts} transcript(s)."
    )
    return 0


def cmd_call(args: argparse.Namespace) -> int:
    from ivr.phone import run_phone

    return run_phone(args)


def cmd_phone(args: argparse.Namespace) -> int:
    from ivr.sandbox.terminal import run_terminal_phone

    return run_terminal_phone(args)


def cmd_sandbox(args: argparse.Namespace) -> int:
    """`ivr serve` with the sandbox telephone network in the same process."""
    os.environ["IVR_TELEPHONY"] = "sandbox"
    return cmd_serve(args)


def _named_prompts(args: argparse.Namespace, named: dict[str, Path]) -> tuple[dict[str, Path], str]:
    """The prompt files named on the command line, else every one in --prompts (or IVR_PROMPTS);
    and how problems name their directory."""
    if named:
        parents = {path.parent for path in named.values()}
        return named, str(parents.pop()) if len(parents) == 1 else "prompts"
    directory = Path(args.prompts) if args.prompts else _settings().prompts_dir
    return {path.stem: path for path in sorted(directory.glob("*.yaml"))}, str(directory)


def cmd_flows_validate(args: argparse.Namespace) -> int:
    """Check flows and prompt files: any named (as `ivr flows export` wrote them, or the
    directory it wrote), each flow against the named prompts or the prompts directory."""
    from ivr.flow.files import compile_files, name_files, read_named
    from ivr.flow.loader import FlowInvalid

    try:
        named = name_files([Path(name) for name in args.files])
        prompts, prompts_source = _named_prompts(args, named.prompts)
    except FlowInvalid as exc:
        print("\n".join(exc.lines()), file=sys.stderr)
        return 1
    if not named.flows:
        print("ivr flows validate: no flow file among the files named (only prompts)", file=sys.stderr)
        return 1
    failed = 0
    for path in named.flows:
        try:
            checked = compile_files(read_named(path, prompts), str(path), prompts_source=prompts_source)
        except FlowInvalid as exc:
            failed += 1
            print("\n".join(exc.lines()), file=sys.stderr)
            continue
        for warning in checked.warnings:
            print(f"warning: {warning}")
        flow = checked.flow
        languages = ", ".join(sorted(checked.catalogs))
        print(f"{path}: flow '{flow.name}' is valid ({len(flow.states)} states; prompts in {languages})")
    return 1 if failed else 0


def cmd_flows_understand(args: argparse.Namespace) -> int:
    """How well a flow's intents route callers' sentences: accuracy per language and intent, a
    confusion table and the sentences it gets wrong (`--test`: labelled files, kept apart from
    the training phrases; without: the phrases cross-validated). `--min` fails below a share."""
    from ivr.flow import evaluation
    from ivr.flow.files import compile_files, name_files, read_named
    from ivr.flow.loader import FlowInvalid

    try:
        named = name_files([Path(args.file)])
        prompts, prompts_source = _named_prompts(args, named.prompts)
        if len(named.flows) != 1:
            print("ivr flows understand: name one flow file", file=sys.stderr)
            return 1
        flow = compile_files(
            read_named(named.flows[0], prompts), args.file, prompts_source=prompts_source
        ).flow
    except FlowInvalid as exc:
        print("\n".join(exc.lines()), file=sys.stderr)
        return 1
    reports = []
    try:
        for name in args.test:
            language, sentences = evaluation.read_sentences(Path(name))
            reports.append(evaluation.evaluate(flow.intents, language, sentences, name))
    except (OSError, ValueError) as exc:  # a missing file, or one that is not labelled sentences
        print(f"ivr flows understand: {exc}", file=sys.stderr)
        return 1
    if not args.test:
        languages = sorted({code for intent in flow.intents for code in intent.phrases})
        reports = [evaluation.cross_validate(flow.intents, code) for code in languages]
    if args.json:
        print(json.dumps(evaluation.as_json(reports), indent=2, ensure_ascii=False))
    else:
        print(evaluation.as_text(reports), end="")
    below = [r.language for r in reports if r.accuracy < args.min]
    if below:
        print(f"ivr flows understand: below {args.min:.0%} in {', '.join(below)}", file=sys.stderr)
    return 1 if below else 0


def _flow_paths(args: argparse.Namespace) -> tuple[Path, Path]:
    """The flow file and prompts directory a command reads: its options, else IVR_FLOW/IVR_PROMPTS."""
    settings = _settings()
    flow = getattr(args, "flow", "") or settings.flow_file
    prompts = args.prompts or settings.prompts_dir
    return Path(flow), Path(prompts)


def _actor(args: argparse.Namespace) -> str:
    """Who a change is attributed to in the audit log: `--by`, else `cli:<OS user>`."""
    if args.by:
        return str(args.by)
    try:
        return f"cli:{getpass.getuser()}"
    except (OSError, KeyError):  # no user name in the environment or the password database
        return "cli:unknown"


def cmd_flows_lifecycle(args: argparse.Namespace) -> int:
    """diff, publish, rollback, export, history: the published flow in the database."""
    from ivr.flow.files import (
        LINE_FLOW,
        FlowFiles,
        compile_files,
        diff_files,
        name_files,
        read_files,
        read_named,
        write_files,
    )
    from ivr.flow.loader import FlowInvalid, Problem
    from ivr.versions.store import FlowNotFound, FlowStore, FlowStoreError

    settings = _settings()
    language, languages = settings.language, settings.languages
    name = args.name or LINE_FLOW

    def local_files() -> FlowFiles:
        """The files named on the command line, validated (problems name their paths): a flow
        and prompt files, or the directory `ivr flows export` wrote; without prompt files, the
        prompts directory (--prompts, IVR_PROMPTS)."""
        named = name_files([Path(name) for name in args.files])
        if len(named.flows) != 1:
            found = ", ".join(str(path) for path in named.flows) or "none"
            problem = Problem(None, None, f"name exactly one flow file to publish (found: {found})")
            raise FlowInvalid(" ".join(args.files), [problem])
        flow_file = named.flows[0]
        prompts, prompts_source = _named_prompts(args, named.prompts)
        files = read_named(flow_file, prompts)
        checked = compile_files(
            files, str(flow_file), prompts_source=prompts_source, language=language, languages=languages
        )
        for warning in checked.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        return files

    async def published_number(store: FlowStore) -> int:
        try:
            return await store.published_number(name)
        except FlowNotFound:
            return 0

    async def run(store: FlowStore) -> int:
        if args.action == "diff":
            flow_file, prompts_dir = _flow_paths(args)
            files = read_files(flow_file, prompts_dir)
            try:
                current = await store.published(name)
            except FlowNotFound:
                print("Nothing is published yet: everything is new.", file=sys.stderr)
                text = diff_files(FlowFiles(""), files, a_label="published", b_label="local", name=name)
            else:
                text = diff_files(
                    current.files, files, a_label=f"version {current.number}", b_label="local", name=name
                )
            sys.stdout.write(text)
            return 1 if text else 0
        if args.action == "publish":
            files = local_files()
            before = await published_number(store)
            version = await store.publish(name, by=_actor(args), files=files, note=args.note)
            if version.number == before:
                print(f"Version {version.number} is already published with these files; nothing changed.")
            else:
                was = f" (was version {before})" if before else ""
                print(f"Published version {version.number}{was}: new calls get it now.")
            return 0
        if args.action == "rollback":
            before = await published_number(store)
            version = await store.rollback(name, args.version, by=_actor(args))
            print(f"Rolled back: new calls get version {version.number} (was version {before}).")
            return 0
        if args.action == "export":
            version = await store.published(name)
            for path in write_files(version.files, Path(args.directory), name):
                print(path)
            print(f"Exported version {version.number}.")
            return 0
        history = await store.history(name)
        if not history:
            print("Nothing is published yet.")
        print(f"{'VERSION':>7}   {'PUBLISHED':19}  {'BY':16}  NOTE")
        for v in history:
            mark = "*" if v.is_current else " "  # the version new calls get
            print(f"{v.number:>7}{mark}  {_when(v.published_at):19}  {_plain(v.by):16}  {_plain(v.note)}")
        return 0

    async def main() -> int:
        stores = _stores()
        await stores.open()
        try:
            return await run(FlowStore(stores.sql, language=language, languages=languages))
        finally:
            await stores.close()

    command = f"ivr flows {args.action}"
    try:
        return asyncio.run(main())
    except FlowInvalid as exc:
        print("\n".join(exc.lines()), file=sys.stderr)
        print(f"{command}: nothing was changed.", file=sys.stderr)
        return 1
    except FlowStoreError as exc:
        print(f"{command}: {exc}", file=sys.stderr)
        return 1


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number of at least 1")
    return int(text)


def _bar(done: int, total: int, label: str) -> None:
    """One redrawn line on stderr: a progress bar that needs no terminal library."""
    width = 30
    filled = width * done // total if total else width
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {label}")
    if done >= total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def cmd_prompts_render(args: argparse.Namespace) -> int:
    """Synthesise every fixed prompt of every served language ahead of time, each in its
    language's voice, so no caller waits for one."""
    from ivr.prompts import load_catalogs
    from ivr.speech.cache import PromptAudioCache
    from ivr.speech.tts import Pyttsx3Synthesizer, SynthesisError
    from ivr.web.local_speech import audio_secret

    settings = _settings()
    audio_dir = settings.audio_dir
    catalogs = load_catalogs(settings.prompts_dir)
    texts = [
        (code, text)
        for code in settings.languages
        if code in catalogs
        for text in sorted(set(catalogs[code].static_texts()))
    ]

    async def render() -> int:
        failed = 0
        done = 0
        for code in settings.languages:
            voice = settings.tts_voice_for(code)
            async with Pyttsx3Synthesizer(voice=voice, rate=settings.tts_rate) as synthesizer:
                cache = PromptAudioCache(audio_dir, synthesizer, audio_secret(audio_dir))
                for language, text in texts:
                    if language != code:
                        continue
                    try:
                        await cache.audio_id(text)
                    except SynthesisError as exc:
                        failed += 1
                        print(f"\n{exc.code}: {code}: {text[:60]!r}: {exc}", file=sys.stderr)
                    done += 1
                    _bar(done, len(texts), f"prompts ({code}, voice {voice or 'default'})")
                await cache.aclose()
        return failed

    failed = asyncio.run(render())
    languages = ", ".join(code for code in settings.languages if code in catalogs)
    print(f"Rendered {len(texts) - failed} of {len(texts)} prompts ({languages}) into {audio_dir}.")
    return 1 if failed else 0


def _day(text: str) -> date:
    from ivr.insights.days import calendar_day

    try:
        return calendar_day(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"'{text}' is not {exc}") from None


def cmd_stats(args: argparse.Namespace) -> int:
    """How the line performed in a period (or, with --compare, two flow versions side by side)."""
    from ivr.insights.service import Insights, Period
    from ivr.versions.store import FlowStore
    from ivr.web.startup import line_zone, load_hours

    settings = _settings()
    zone = line_zone(settings, load_hours(settings))
    until = args.until or datetime.now(zone).date()
    if until < args.since:
        print("ivr stats: --until is before --since", file=sys.stderr)
        return 2

    async def read() -> dict[str, Any]:
        stores = _stores()
        await stores.open()
        try:
            flows = FlowStore(stores.sql, language=settings.language)
            insights = Insights(stores.sql, flows, stores.calls, language=settings.language, zone=zone)
            if args.compare:
                return await insights.compare(*args.compare, language=args.language)
            return await insights.figures(
                Period(args.since, until), version=args.version, language=args.language
            )
        finally:
            await stores.close()

    figures = asyncio.run(read())
    if args.json:
        print(json.dumps(figures, indent=2))
    elif args.compare:
        for number, side in figures["versions"].items():
            print(f"Version {number}:")
            _print_stats(side)
        print(figures["text"])
    else:
        print(
            f"From {figures['since']} to {figures['until']} ({figures['time_zone']})"
            + (f", version {args.version}" if args.version else "")
        )
        _print_stats(figures)
    return 0


def _print_stats(f: dict[str, Any]) -> None:
    def pct(rate: float | None) -> str:
        return "-" if rate is None else f"{rate * 100:.1f}%"

    print(f"  calls          {f['calls']}")
    print(f"  contained      {f['contained']} ({pct(f['containment_rate'])})")
    print(
        f"  transferred    {f['transferred']}  "
        + ", ".join(f"{k}: {n}" for k, n in f["transfer_reasons"].items())
    )
    print(f"  abandoned      {f['abandoned']} in the queue")
    wait = f["queue_wait"]
    if wait["calls"]:
        print(f"  queue wait     median {wait['median_seconds']} s, 90th percentile {wait['p90_seconds']} s")
    if f["drop_off"]:
        print("  drop-off       " + ", ".join(f"{k}: {n}" for k, n in f["drop_off"].items()))
    if f["no_match_rate"]:
        print("  not understood " + ", ".join(f"{k}: {pct(r)}" for k, r in f["no_match_rate"].items()))
    for what, done in f["self_service"].items():
        name = what.replace("_", " ")
        print(f"  self-service   {name}: {done['calls']} calls ({done['contained']} without a person)")
    sat = f.get("satisfaction")
    print(
        "  satisfaction   "
        + (f"{sat['average']} of 5 ({sat['answers']} answers)" if sat else "no survey ran")
    )


def cmd_speech_install_model(args: argparse.Namespace) -> int:
    from ivr.speech.models import (
        OFFICIAL_INDEX,
        ModelInstallError,
        install_local_model,
        install_model,
        text_progress_bar,
    )

    settings = _settings()
    models_dir = settings.models_dir
    index = settings.model_index or OFFICIAL_INDEX
    try:
        if args.source:
            source = Path(args.source)
            stem = source.name.removesuffix(".zip")
            name = stem if stem.startswith("vosk-model") else f"vosk-model-{args.lang}"
            path = install_local_model(source, models_dir, name)
        else:
            path = asyncio.run(
                install_model(
                    args.lang, models_dir, index_url=index, small=not args.large, progress=text_progress_bar()
                )
            )
    except ModelInstallError as exc:
        print(f"ivr speech install-model: {exc}", file=sys.stderr)
        return 1
    link = models_dir / args.lang
    if link.is_symlink() or not link.exists():
        link.unlink(missing_ok=True)
        link.symlink_to(path.name)
    print(f"Installed {path}. With {args.lang} in IVR_LANGUAGES, IVR_SPEECH=local uses it ({link}).")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ivr", description="Automated after-sales phone support line.")
    sub = parser.add_subparsers(dest="command", required=True)

    serving = argparse.ArgumentParser(add_help=False)
    serving.add_argument("--host", default="127.0.0.1")
    serving.add_argument("--port", type=int, default=8080)
    serving.add_argument(
        "--workers",
        type=_positive,
        default=1,
        help="processes sharing the port (SO_REUSEPORT) and the database; one per core (default 1)",
    )
    serving.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    serving.add_argument(
        "--log-format",
        default="text",
        choices=["text", "json"],
        help="text for people (default), or json: one object a line, for log collectors",
    )
    sub.add_parser("serve", parents=[serving], help="run the webhook server Twilio calls").set_defaults(
        run=cmd_serve
    )
    sub.add_parser(
        "sandbox",
        parents=[serving],
        help="`serve` with the sandbox telephone network in the same process (no real calls)",
    ).set_defaults(run=cmd_sandbox)

    imp = sub.add_parser("import", help="load orders, warranties or repairs from a CSV file (all or nothing)")
    imp.add_argument("kind", choices=[k.value for k in ImportKind])
    imp.add_argument("file")
    imp.set_defaults(run=cmd_import)

    calls = sub.add_parser("calls", help="inspect recorded calls")
    calls_sub = calls.add_subparsers(dest="action", required=True)
    listing = calls_sub.add_parser("list", help="recent calls, newest first")
    listing.add_argument("--limit", type=_positive, default=50)
    listing.add_argument("--json", action="store_true")
    show = calls_sub.add_parser("show", help="one call's path and transcript")
    show.add_argument("call_sid")
    show.add_argument("--json", action="store_true")
    callbacks = calls_sub.add_parser(
        "callbacks", help="callers who asked to be called back (full numbers: someone must dial them)"
    )
    callbacks.add_argument(
        "--limit", type=_positive, default=500, help="how many recent calls to look through"
    )
    calls.set_defaults(run=cmd_calls)
    purge = calls_sub.add_parser("purge", help="delete old call records (retention)")
    purge.add_argument("--older-than", type=_Age, required=True, help="age like 90d, 12h or 30m")
    purge.set_defaults(run=cmd_calls_purge)

    privacy = sub.add_parser("privacy", help="a phone number's data: export it, or erase it (GDPR)")
    privacy_sub = privacy.add_subparsers(dest="action", required=True)
    export = privacy_sub.add_parser("export", help="everything held about a number")
    export.add_argument("number", help="the phone number (E.164), e.g. +4915112345678")
    export.add_argument("--json", action="store_true", help="the whole archive as JSON")
    export.set_defaults(run=cmd_privacy_export)
    erase = privacy_sub.add_parser("erase", help="delete or anonymise everything held about a number")
    erase.add_argument("number", help="the phone number (E.164)")
    erase.add_argument("--by", default=getpass.getuser(), help="who asked for it, for the audit log")
    erase.set_defaults(run=cmd_privacy_erase)
    privacy_sub.add_parser(
        "purge", help="apply each market's retention now (ivr serve does it daily)"
    ).set_defaults(run=cmd_privacy_purge)

    repairs = sub.add_parser("repairs", help="repairs the line books: the slot calendar")
    repairs_sub = repairs.add_subparsers(dest="what", required=True)
    slots = repairs_sub.add_parser("slots", help="the times a courier or technician can come")
    slots_sub = slots.add_subparsers(dest="action", required=True)
    slots_sub.add_parser("list", help="every slot from today on, free or booked").set_defaults(
        run=cmd_repair_slots
    )
    for action, text in (("add", "open a free slot"), ("remove", "close a free slot")):
        change = slots_sub.add_parser(action, help=text)
        change.add_argument("day", type=_iso_day, help="the day, e.g. 2026-12-01")
        change.add_argument("part", choices=("morning", "afternoon"))
        change.add_argument("--by", default=getpass.getuser(), help="who changed it, for the audit log")
        change.set_defaults(run=cmd_repair_slots)

    call = sub.add_parser("call", help="call a running line from this terminal (keys or typed speech)")
    call.add_argument(
        "--url", default="", help="server base URL (default: PUBLIC_URL or http://127.0.0.1:8080)"
    )
    call.add_argument("--from", dest="caller", default="+15550100001", help="your caller ID (E.164)")
    call.add_argument("--to", default="+15550009999", help="the support number dialled")
    call.set_defaults(run=cmd_call)

    phone = sub.add_parser("phone", help="a sandbox phone in this terminal (IVR_TELEPHONY=sandbox)")
    phone.add_argument("number", help="the sandbox number this phone answers (E.164), e.g. +15550100201")
    phone.add_argument("--call", action="store_true", help="call the line at once")
    phone.add_argument("--url", default="", help="the line's server (default http://127.0.0.1:8080)")
    phone.set_defaults(run=cmd_phone)

    prompts = sub.add_parser("prompts", help="work with prompt audio")
    prompts_sub = prompts.add_subparsers(dest="action", required=True)
    render = prompts_sub.add_parser("render", help="synthesise every fixed prompt now (local speech)")
    render.set_defaults(run=cmd_prompts_render)

    speech = sub.add_parser("speech", help="speech recognition models")
    speech_sub = speech.add_subparsers(dest="action", required=True)
    install = speech_sub.add_parser("install-model", help="download and unpack an official Vosk model")
    install.add_argument("lang", help="language code, e.g. en, de, fr")
    install.add_argument("--large", action="store_true", help="the big model instead of the small one")
    install.add_argument(
        "--from",
        dest="source",
        default="",
        help="a Vosk model zip or directory already on this machine (nothing is downloaded)",
    )
    install.set_defaults(run=cmd_speech_install_model)

    db = sub.add_parser("db", help="the database")
    db_sub = db.add_subparsers(dest="action", required=True)
    db_upgrade = db_sub.add_parser("upgrade", help="apply schema migrations (IVR_DATABASE_URL)")
    db_upgrade.set_defaults(run=cmd_db_upgrade)

    accounts_cli.add_parser(sub)
    outreach_cli.add_parsers(sub, _settings)
    sources_cli.add_parser(sub, _settings)

    stats = sub.add_parser(
        "stats", help="how the line performed: containment, transfers, drop-off (the line's own days)"
    )
    stats.add_argument("--since", type=_day, required=True, help="first day, YYYY-MM-DD")
    stats.add_argument("--until", type=_day, help="last day, YYYY-MM-DD (default: today)")
    stats.add_argument("--version", type=_positive, help="only the calls that ran on this flow version")
    stats.add_argument("--language", default=None, help="only the calls in this language")
    stats.add_argument(
        "--compare", type=_positive, nargs=2, metavar=("OLDER", "NEWER"), help="two versions side by side"
    )
    stats.add_argument("--json", action="store_true", help="machine-readable (the console page's names)")
    stats.set_defaults(run=cmd_stats)

    flows = sub.add_parser("flows", help="work with call flow files")
    flows_sub = flows.add_subparsers(dest="action", required=True)
    validate = flows_sub.add_parser("validate", help="check flow files and report every problem")
    validate.add_argument(
        "files", nargs="+", help="flow and prompt files, or a directory `ivr flows export` wrote"
    )
    validate.add_argument("--prompts", default="", help="prompts directory (default: ./prompts)")
    validate.set_defaults(run=cmd_flows_validate)
    understand = flows_sub.add_parser(
        "understand", help="how well the flow's intents route callers' sentences (accuracy, confusion)"
    )
    understand.add_argument("file", help="the flow file")
    understand.add_argument(
        "--test",
        action="append",
        default=[],
        metavar="SENTENCES.yaml",
        help="labelled sentences, <name>_<language>.yaml: intent -> sentences (repeatable; "
        "default: the flow's own phrases, 5-fold cross-validated)",
    )
    understand.add_argument("--prompts", default="", help="prompts directory (default: ./prompts)")
    understand.add_argument("--json", action="store_true", help="machine-readable")
    understand.add_argument(
        "--min", type=float, default=0.0, metavar="SHARE", help="exit 1 if a language routes less (0.92)"
    )
    understand.set_defaults(run=cmd_flows_understand)
    diff = flows_sub.add_parser("diff", help="how local files differ from the published version (exit 1)")
    diff.add_argument("--flow", default="", help="flow file (default: IVR_FLOW or ./flows/support.yaml)")
    diff.add_argument("--prompts", default="", help="prompts directory (default: IVR_PROMPTS or ./prompts)")
    diff.set_defaults(run=cmd_flows_lifecycle)
    publish = flows_sub.add_parser("publish", help="validate a flow and its prompts and publish them")
    publish.add_argument(
        "files", nargs="+", help="the flow file and any prompt files, or a directory `ivr flows export` wrote"
    )
    publish.add_argument("--prompts", default="", help="prompts directory (default: IVR_PROMPTS, ./prompts)")
    publish.add_argument("--note", default="", help="why, for the history and the audit log")
    publish.add_argument("--by", default="", help="who publishes (default: cli:<your user name>)")
    publish.set_defaults(run=cmd_flows_lifecycle)
    rollback = flows_sub.add_parser("rollback", help="make an earlier version the published one")
    rollback.add_argument("version", nargs="?", type=_positive, help="default: the one before the current")
    rollback.add_argument("--by", default="", help="who rolls back (default: cli:<your user name>)")
    rollback.set_defaults(run=cmd_flows_lifecycle)
    export = flows_sub.add_parser("export", help="write the published flow and prompts into a directory")
    export.add_argument("directory", help="gets flows/support.yaml and prompts/<language>.yaml")
    export.set_defaults(run=cmd_flows_lifecycle)
    history = flows_sub.add_parser("history", help="every published version, newest first (* = current)")
    history.set_defaults(run=cmd_flows_lifecycle)
    for lifecycle in (diff, publish, rollback, export, history):
        lifecycle.add_argument(
            "--name", default="", help="which flow (default: support; followup, warranty_offer for campaigns)"
        )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args))
    except ConfigError as exc:
        print(f"ivr: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
