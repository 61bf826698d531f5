"""`ivr prompts render`: every fixed prompt synthesised ahead of time (local speech)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from ivr.cli.common import cli_settings


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

    settings = cli_settings()
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


def add_parser(sub: Any) -> None:
    prompts = sub.add_parser("prompts", help="work with prompt audio")
    prompts_sub = prompts.add_subparsers(dest="action", required=True)
    render = prompts_sub.add_parser("render", help="synthesise every fixed prompt now (local speech)")
    render.set_defaults(run=cmd_prompts_render)
