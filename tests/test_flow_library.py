"""The live flow library: a publish reaches the very next new call on this instance."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import cast

import pytest

from ivr.flow.engine import FlowEngine
from ivr.flow.files import LINE_FLOW, CompiledFlow
from ivr.step_twiml import Voice
from ivr.testing.services import open_sql
from ivr.versions.library import FlowLibrary, LiveFlow
from ivr.versions.store import FlowStore
from tests.test_flow_lifecycle import START, new_version

pytestmark = pytest.mark.inprocess


async def test_a_call_arriving_while_the_new_version_compiles_gets_the_new_version(tmp_path: Path) -> None:
    """The watcher starts compiling a just-published version; a call that arrives meanwhile
    must wait for it, not be given the version before (it was, for the compile's duration)."""
    compiling, release = threading.Event(), threading.Event()

    def build(number: int, compiled: CompiledFlow) -> LiveFlow:
        if number == 2:
            compiling.set()
            release.wait(60)
        return LiveFlow(number, cast(FlowEngine, None), Voice(), "")

    async with open_sql("sqlite", tmp_path) as sql:
        store = FlowStore(sql)
        library = FlowLibrary(store, LINE_FLOW, build, max_age=60.0)
        await library.start(START)
        await store.publish(LINE_FLOW, by="alice", files=new_version())

        watcher = asyncio.create_task(library.current())  # as the idle watcher would
        assert await asyncio.to_thread(compiling.wait, 60)
        caller = asyncio.create_task(library.current())  # a new call, mid-compile
        await asyncio.sleep(0.05)
        release.set()
        assert (await caller).version == 2
        assert (await watcher).version == 2
