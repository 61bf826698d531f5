"""The flow versions a running line speaks: the published one for new calls, and for every
later turn the version that call started on.

A publish (here, from the console or the CLI, or on another instance sharing the database)
reaches new calls without a restart: the published number is asked again at most every
`max_age` seconds, and at once when this process's own `FlowStore` publishes. Each version
is compiled once and kept, so a turn costs a dictionary lookup, never a YAML parse.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from ivr.flow.engine import FlowEngine
from ivr.flow.files import CompiledFlow, FlowFiles
from ivr.languages import fault_words
from ivr.session import CallSession
from ivr.step_twiml import Voice
from ivr.versions.store import FlowStore, FlowVersion

log = logging.getLogger(__name__)

KEEP_VERSIONS = 8
"""Compiled versions kept besides the current one (older calls' versions load again on a miss)."""


@dataclass(frozen=True, slots=True)
class LiveFlow:
    """One published version, ready to run calls."""

    version: int
    engine: FlowEngine
    voice: Voice
    """How this version's prompts are spoken (its language's `<Say>` voice)."""
    apology: str
    """What a caller hears when the service fails (the `system_error` prompt)."""
    voices: Mapping[str, Voice] = field(default_factory=dict)
    """Each served language's voice, by code (from its prompts file)."""
    apologies: Mapping[str, str] = field(default_factory=dict)
    """Each served language's `system_error`, by code."""
    language: str = ""
    """The default language's code (`apology` and `voice` are its)."""

    def speaking(self, language: str) -> tuple[str, Voice]:
        """The code and voice a call in `language` is spoken in: a language this version does
        not serve (or none: a call not known) gets the default's."""
        if language and language in self.voices:
            return language, self.voices[language]
        return self.language, self.voice

    def apology_in(self, language: str) -> tuple[str, Voice]:
        """The fault apology in `language`, and the voice that says it."""
        code, voice = self.speaking(language)
        return self.apologies.get(code, self.apology), voice


class Flows(Protocol):
    """Which flow version speaks to a call (see `ivr.versions.library.FlowLibrary`)."""

    async def current(self) -> LiveFlow:
        """The published version, for a new call."""
        ...

    async def for_session(self, session: CallSession) -> LiveFlow:
        """The version this call started on."""
        ...

    def latest(self) -> LiveFlow:
        """The version new calls last got, known without I/O (for failures)."""
        ...


Build = Callable[[int, CompiledFlow], LiveFlow]


class FlowLibrary:
    def __init__(
        self,
        store: FlowStore,
        name: str,
        build: Build,
        *,
        max_age: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        on_new: Callable[[LiveFlow], None] | None = None,
    ) -> None:
        self.store = store
        self.name = name
        self.build = build
        self.max_age = max_age
        self.clock = clock
        self.on_new = on_new
        """Told when a version becomes the current one (e.g. to pre-render its prompts)."""
        self._versions: OrderedDict[int, LiveFlow] = OrderedDict()
        self._current: LiveFlow | None = None
        self._checked = float("-inf")
        self._publishes = 0
        """Publishes this process has heard of; a check that began before the latest one
        does not count as fresh."""
        self._loading = asyncio.Lock()
        store.listeners.append(self._published)

    async def start(self, starting: FlowFiles) -> None:
        """Seed the database with the starting files on first run, then load the published version."""
        if await self.store.seed(self.name, starting):
            log.info("flow %s: stored the starting files as version 1", self.name)
        await self.current()

    async def current(self) -> LiveFlow:
        """The version a new call gets."""
        now = self.clock()
        if self._current is not None and now - self._checked < self.max_age:
            return self._current
        publishes = self._publishes
        try:
            number = await self.store.published_number(self.name)
        except Exception as exc:  # a database error: keep serving what is known, if anything
            if self._current is None:
                raise
            self._checked = now  # ask again after max_age, not on every call
            version = self._current.version
            log.warning("flow_check_failed: flow %s: staying on version %s: %s", self.name, version, exc)
            return self._current
        if self._current is None or number != self._current.version:
            live = await self._load(number)
            previous, self._current = self._current, live
            log.info(
                "flow %s: new calls get version %s%s",
                self.name,
                number,
                f" (was {previous.version})" if previous else "",
            )
            if self.on_new is not None:
                self.on_new(live)
        # Fresh only now that the version is in place: a call arriving while it compiled
        # asked again (and waited for the compile) instead of getting the one before.
        if publishes == self._publishes:
            self._checked = now
        return self._current

    async def for_session(self, session: CallSession) -> LiveFlow:
        """The version this call started on (calls from before versions: the current one)."""
        if not session.flow_version:
            return await self.current()
        live = self._versions.get(session.flow_version)
        if live is not None:
            self._versions.move_to_end(session.flow_version)
            return live
        return await self._load(session.flow_version)

    async def watch(self) -> None:
        """Keep checking for a new published version while no calls come in, so a publish
        anywhere is compiled (and its prompts pre-rendered) before the next caller needs it."""
        while True:
            await asyncio.sleep(self.max_age)
            try:
                await self.current()
            except Exception:  # a version that cannot be loaded now; new calls try again
                log.exception("flow_watch_failed: flow %s", self.name)

    def latest(self) -> LiveFlow:
        """The version new calls last got, without asking the database (for failures)."""
        if self._current is None:
            raise RuntimeError("the flow library has not started")
        return self._current

    async def _load(self, number: int) -> LiveFlow:
        async with self._loading:  # one compile per version, however many calls ask at once
            live = self._versions.get(number)
            if live is None:
                version = await self.store.version(self.name, number)
                live = await asyncio.to_thread(self._compile, version)
                self._versions[number] = live
                while len(self._versions) > KEEP_VERSIONS + 1:
                    oldest = next(iter(self._versions))
                    if self._current is not None and oldest == self._current.version:
                        self._versions.move_to_end(oldest)
                        continue
                    del self._versions[oldest]
            return live

    def _compile(self, version: FlowVersion) -> LiveFlow:
        compiled = self.store.compile(version.files, self.name)
        for warning in compiled.warnings:
            log.warning("flow_warning: version %s: %s", version.number, warning)
        return self.build(version.number, compiled)

    def _published(self, name: str, _number: int) -> None:
        if name == self.name:
            self._publishes += 1
            self._checked = float("-inf")  # the next new call asks which version is current


def line_builder(
    language: str, build_engine: Callable[[int, CompiledFlow], FlowEngine], languages: tuple[str, ...] = ()
) -> Build:
    """Make `LiveFlow`s that speak `language` by default and each of `languages` (all validated
    to exist by `FlowStore.compile`)."""

    def build(number: int, compiled: CompiledFlow) -> LiveFlow:
        catalog = compiled.catalogs[language]
        served = languages or (language,)
        voices = {
            code: Voice(language=compiled.catalogs[code].say_language, voice=compiled.catalogs[code].voice)
            for code in served
        }
        apologies = {
            code: compiled.catalogs[code].render("system_error", {})
            if compiled.catalogs[code].has("system_error")
            else fault_words(code).apology
            for code in served
        }
        return LiveFlow(
            version=number,
            engine=build_engine(number, compiled),
            voice=voices.get(language) or Voice(language=catalog.say_language, voice=catalog.voice),
            apology=apologies[language],
            voices=voices,
            apologies=apologies,
            language=language,
        )

    return build
