"""Prompt texts by id and language, loaded from `prompts/<lang>.yaml`.

Kept apart from the flow graph so that wording (a new return policy, holiday hours)
changes without touching call logic, and so languages can be added side by side.
Nested mappings give dotted ids: `order_status: {shipped: ...}` is `order_status.shipped`,
which lets a flow pick a variant by a call variable (`prompt: order_status.{order_status}`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from ivr.templates import Template, TemplateError
from ivr.yamlsource import Document, SourceError, load_file

_ALLOWED_TOP = {"language", "voice", "speech_language", "prompts"}


@dataclass(frozen=True, slots=True)
class PromptCatalog:
    """All prompts of one language."""

    language: str
    """Short code used to pick the file (`en` for `prompts/en.yaml`)."""
    say_language: str
    """BCP-47 tag for Twilio `<Say>` and `<Gather>` speech recognition, e.g. `en-US`."""
    voice: str
    """Twilio `<Say>` voice, e.g. `Polly.Joanna`; empty for Twilio's default."""
    templates: Mapping[str, Template]
    lines: Mapping[str, int] = field(default_factory=dict)
    """Prompt id → its line in the prompts file, for messages."""

    def has(self, prompt_id: str) -> bool:
        return prompt_id in self.templates

    def has_prefix(self, prefix: str) -> bool:
        return any(key.startswith(prefix) for key in self.templates)

    def static_texts(self) -> list[str]:
        """Prompts with no placeholders: worth synthesising before the first call."""
        return [t.render({}) for t in self.templates.values() if not t.variables]

    def render(self, prompt_id: str, values: Mapping[str, str], today: date | None = None) -> str:
        return self.templates[prompt_id].render(values, today, self.say_language)


def load_catalog(path: Path) -> PromptCatalog:
    doc = load_file(path)
    return parse_catalog(doc, language=path.stem)


def parse_catalog(doc: Document, language: str) -> PromptCatalog:
    data = doc.data
    if not isinstance(data, dict):
        raise doc.error((), "a prompt file is a mapping with 'language' and 'prompts'")
    unknown = set(data) - _ALLOWED_TOP
    if unknown:
        key = sorted(unknown)[0]
        raise doc.error((key,), f"unknown setting '{key}'; allowed: {', '.join(sorted(_ALLOWED_TOP))}")
    prompts = data.get("prompts")
    if not isinstance(prompts, dict) or not prompts:
        raise doc.error(("prompts",), "'prompts' must be a mapping of prompt ids to texts")
    templates: dict[str, Template] = {}
    lines: dict[str, int] = {}
    _flatten(doc, prompts, ("prompts",), "", templates, lines)
    return PromptCatalog(
        language=language,
        say_language=str(data.get("language") or "en-US"),
        voice=str(data.get("voice") or ""),
        templates=templates,
        lines=lines,
    )


def _flatten(
    doc: Document,
    node: dict[str, Any],
    path: tuple[str, ...],
    prefix: str,
    out: dict[str, Template],
    lines: dict[str, int],
) -> None:
    for key, value in node.items():
        here = (*path, key)
        prompt_id = f"{prefix}{key}"
        lines[prompt_id] = doc.line(here) or 0
        if isinstance(value, dict):
            _flatten(doc, value, here, f"{prompt_id}.", out, lines)
        elif isinstance(value, str) and value.strip():
            try:
                out[prompt_id] = Template(" ".join(value.split()))
            except TemplateError as exc:
                raise doc.error(here, f"prompt '{prompt_id}': {exc}") from None
        else:
            raise doc.error(here, f"prompt '{prompt_id}' must be a non-empty text")


def load_catalogs(directory: Path) -> dict[str, PromptCatalog]:
    """Every `*.yaml` in the prompts directory, keyed by language code."""
    files = sorted(directory.glob("*.yaml"))
    if not files:
        raise SourceError(str(directory), None, "no prompt files (*.yaml) found")
    return {path.stem: load_catalog(path) for path in files}
