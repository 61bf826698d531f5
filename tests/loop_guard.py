"""A blocked event loop fails the test that blocked it.

Every asyncio callback (a task's step between two awaits, a timer, an I/O handler) runs in
`Handle._run`. Timing each one finds slow work done on the loop (a YAML parse, a hash, a
recogniser) where it is written, instead of as a slow caller turn under load much later.
aiohttp's own suite does this with blockbuster, which forbids known blocking calls; here the
measure is the CPU time one callback spends in its thread, which is what keeps other callers
waiting and which, unlike wall-clock time, a busy CI machine does not inflate. A callback that
waits without spending CPU (a blocking sleep or socket) is not caught: those are rare in this
code and leave a trace in the durations report instead.
"""

from __future__ import annotations

import asyncio
import gc
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

LIMIT = float(os.environ.get("IVR_TEST_LOOP_LIMIT", "0.5"))
"""Seconds of CPU one callback may take. The slowest honest callbacks in the suite take well
under a tenth of this (a test's own set-up: building an app, loading the demo data)."""


@dataclass
class Worst:
    """The longest callback since `reset`, and what it was."""

    seconds: float = 0.0
    what: str = ""

    def reset(self) -> None:
        self.seconds = 0.0
        self.what = ""


WORST = Worst()
_run: Callable[[asyncio.Handle], None] = asyncio.Handle._run


_gc_started = 0.0
_gc_spent = 0.0
"""CPU time spent in garbage collection so far: a full collection of a test process's heap,
grown over hundreds of tests, can take a second inside whatever callback triggered it, and
says nothing about that callback."""


def _count_gc(phase: str, info: dict[str, int]) -> None:
    global _gc_started, _gc_spent
    if phase == "start":
        _gc_started = time.thread_time()
    else:
        _gc_spent += time.thread_time() - _gc_started


def _timed_run(handle: asyncio.Handle) -> None:
    start = time.thread_time()
    gc_before = _gc_spent
    try:
        _run(handle)
    finally:
        spent = time.thread_time() - start - (_gc_spent - gc_before)
        if spent > WORST.seconds:
            WORST.seconds = spent
            WORST.what = _describe(handle)


def _describe(handle: asyncio.Handle) -> str:
    """The coroutine a task step ran, and where it stopped next; else the callback itself."""
    task = getattr(getattr(handle, "_callback", None), "__self__", None)
    if isinstance(task, asyncio.Task):
        coro = task.get_coro()
        frame = getattr(coro, "cr_frame", None)
        where = f" (now at {frame.f_code.co_filename}:{frame.f_lineno})" if frame else ""
        return f"a step of {getattr(coro, '__qualname__', coro)!s}{where}"
    return repr(handle)


def install() -> None:
    """Time every callback from now on (once per test process)."""
    asyncio.Handle._run = _timed_run  # type: ignore[method-assign,assignment]
    gc.callbacks.append(_count_gc)
