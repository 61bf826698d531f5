"""`ivr flows validate|understand|diff|publish|rollback|export|history`: flow files and
their published versions."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import getpass
import json
import sys
from pathlib import Path
from typing import Any

from ivr.cli.common import cli_settings, cli_stores, plain, positive, when


def _named_prompts(args: argparse.Namespace, named: dict[str, Path]) -> tuple[dict[str, Path], str]:
    """The prompt files named on the command line, else every one in --prompts (or IVR_PROMPTS);
    and how problems name their directory."""
    if named:
        parents = {path.parent for path in named.values()}
        return named, str(parents.pop()) if len(parents) == 1 else "prompts"
    directory = Path(args.prompts) if args.prompts else cli_settings().prompts_dir
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
    settings = cli_settings()
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
        read_guides,
        read_named,
        write_files,
    )
    from ivr.flow.loader import FlowInvalid, Problem
    from ivr.versions.store import FlowNotFound, FlowStore, FlowStoreError

    settings = cli_settings()
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
        guides = (
            {name: path.read_text(encoding="utf-8") for name, path in named.guides.items()}
            if named.guides
            else read_guides(settings.guides_dir)
        )
        files = dataclasses.replace(read_named(flow_file, prompts), guides=guides)
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
            files = read_files(flow_file, prompts_dir, settings.guides_dir)
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
            print(f"{v.number:>7}{mark}  {when(v.published_at):19}  {plain(v.by):16}  {plain(v.note)}")
        return 0

    async def main() -> int:
        stores = cli_stores()
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


def add_parser(sub: Any) -> None:
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
    rollback.add_argument("version", nargs="?", type=positive, help="default: the one before the current")
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
