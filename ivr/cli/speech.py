"""`ivr speech install-model`: an official Vosk model downloaded, checked and unpacked."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from ivr.cli.common import cli_settings


def cmd_speech_install_model(args: argparse.Namespace) -> int:
    from ivr.speech.models import (
        OFFICIAL_INDEX,
        ModelInstallError,
        install_local_model,
        install_model,
        text_progress_bar,
    )

    settings = cli_settings()
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


def add_parser(sub: Any) -> None:
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
