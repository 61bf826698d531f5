"""`ivr guides validate [FOLDER]`: check a folder of troubleshooting guides, every mistake located."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def cmd_guides_validate(args: argparse.Namespace) -> int:
    """Check a folder of troubleshooting guides in the languages named (every mistake, located)."""
    from ivr.flow.guides import GuidesInvalid, load_guides

    folder = Path(args.folder)
    if not folder.is_dir():
        print(f"ivr guides validate: {folder} is not a folder", file=sys.stderr)
        return 1
    languages = [code.strip() for code in args.languages.split(",") if code.strip()]
    try:
        book = load_guides(folder, languages)
    except GuidesInvalid as exc:
        print(str(exc), file=sys.stderr)
        return 1
    for guide in book.guides:
        steps, spoken = len(guide.text(languages[0]).steps), ", ".join(sorted(guide.texts))
        print(f"{guide.source}: guide '{guide.name}' is valid ({steps} steps; in {spoken})")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    guides = sub.add_parser("guides", help="work with troubleshooting guide files")
    guides_sub = guides.add_subparsers(dest="action", required=True)
    check = guides_sub.add_parser("validate", help="check a folder of guides and report every problem")
    check.add_argument("folder", nargs="?", default="guides", help="the guides folder (default: ./guides)")
    check.add_argument(
        "--languages", default="en,de,sv", help="languages each guide must have (default: en,de,sv)"
    )
    check.set_defaults(run=cmd_guides_validate)
