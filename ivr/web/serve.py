"""`ivr serve`: one process, or several worker processes sharing one port.

One Python process uses one core (the GIL), so `--workers N` starts N processes that each
listen on the same port with `SO_REUSEPORT`: the kernel hands every new connection to one
of them. Workers share nothing but the database (SQLite in WAL mode, or PostgreSQL + Redis),
which already holds every call's state and decides a turn's one winner (compare-and-set on
its `seq`), so a call's turns may land on any worker.

The parent only supervises: it checks the flow once (a broken flow stops start-up with one
message, not N), starts the workers, passes SIGTERM/SIGINT on, and if a worker dies it stops
the others and exits with that worker's status, so the service manager (systemd, Docker)
restarts the whole server rather than it running on with fewer workers than configured.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Semaphore
from types import FrameType

from ivr.config import Settings, TelephonyMode
from ivr.logs import LogFormat, configure

BACKLOG = 4096
"""Pending connections the listening socket holds. The default (128) overflows when a load
balancer opens hundreds of connections at once: it then sees connect timeouts and takes
healthy instances out of rotation."""


@dataclass(frozen=True, slots=True)
class ServeOptions:
    """The `ivr serve` command line (picklable: each worker process gets a copy)."""

    host: str
    port: int
    workers: int
    log_level: str
    log_format: LogFormat

    @property
    def origin(self) -> str:
        """`http://host:port`, an IPv6 host in brackets (`http://[::1]:8080`): unbracketed, its
        colons read as a port, and the default PUBLIC_URL built from it could not be parsed."""
        host = f"[{self.host}]" if ":" in self.host and not self.host.startswith("[") else self.host
        return f"http://{host}:{self.port}"


def serve(options: ServeOptions) -> int:
    """Run the server until it is stopped; returns the exit status (2: could not start)."""
    if options.workers == 1:
        return _run_worker(options, reuse_port=False)
    configure(options.log_level, options.log_format, show_pid=True)
    settings = Settings.from_env(default_public_url=options.origin)
    if settings.telephony is TelephonyMode.SANDBOX:
        print(
            "ivr serve: the sandbox telephone network runs in one process: use --workers 1", file=sys.stderr
        )
        return 2
    if not _flow_checks(settings):
        return 2
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no event loop or threads copied
    ready = context.Semaphore(0)
    workers = [
        context.Process(target=_worker_main, args=(options, ready), name=f"ivr-worker-{n}")
        for n in range(options.workers)
    ]
    for worker in workers:
        worker.start()
    stopping = False

    def stop(signum: int, _: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for worker in workers:
            if worker.is_alive() and worker.pid is not None:
                os.kill(worker.pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if _all_ready(workers, ready):
        _announce(settings, options)
    multiprocessing.connection.wait([worker.sentinel for worker in workers])
    if not stopping:
        print("ivr serve: a worker exited; stopping the others", file=sys.stderr, flush=True)
        stop(signal.SIGTERM, None)
    for worker in workers:
        worker.join()
    codes = [worker.exitcode for worker in workers]
    return next((code for code in codes if code), 0)


def _all_ready(workers: Sequence[BaseProcess], ready: Semaphore) -> bool:
    """Wait until every worker listens (each releases `ready` once); False if one exited first."""
    listening = 0
    while listening < len(workers):
        if ready.acquire(timeout=0.5):
            listening += 1
        elif any(worker.exitcode is not None for worker in workers):
            return False
    return True


def _worker_main(options: ServeOptions, ready: Semaphore) -> None:
    sys.exit(_run_worker(options, reuse_port=True, listening=ready.release))


def _run_worker(
    options: ServeOptions, *, reuse_port: bool, listening: Callable[[], None] | None = None
) -> int:
    """Serve in this process until stopped; `listening` is called once its port is open."""
    from aiohttp import web

    from ivr.flow.loader import FlowInvalid
    from ivr.web.app import create_app
    from ivr.yamlsource import SourceError

    configure(options.log_level, options.log_format, show_pid=reuse_port)
    settings = Settings.from_env(default_public_url=options.origin)
    try:
        app = create_app(settings)
    except (FlowInvalid, SourceError, ValueError) as exc:
        print(f"ivr serve: cannot start:\n{exc}", file=sys.stderr)
        return 2
    if not reuse_port:
        _announce(settings, options)
    try:
        web.run_app(
            app,
            host=options.host,
            port=options.port,
            # run_app calls `print` (with its banner) once the port is open: this worker is ready.
            print=(lambda _banner: listening()) if listening else None,
            access_log=None,
            backlog=BACKLOG,
            reuse_port=reuse_port or None,
        )
    except OSError as exc:
        reason = exc.strerror or exc
        print(f"ivr serve: cannot listen on {options.host}:{options.port}: {reason}", file=sys.stderr)
        return 2
    return 0


def _flow_checks(settings: Settings) -> bool:
    """Compile the starting flow once in the parent, so a broken one is reported once."""
    from ivr.flow.loader import FlowInvalid
    from ivr.web.app import check_starting_flow, line_zone, load_hours
    from ivr.yamlsource import SourceError

    try:
        check_starting_flow(settings)
        line_zone(settings, load_hours(settings))
    except (FlowInvalid, SourceError, ValueError) as exc:
        print(f"ivr serve: cannot start:\n{exc}", file=sys.stderr)
        return False
    return True


def _announce(settings: Settings, options: ServeOptions) -> None:
    workers = f", {options.workers} workers" if options.workers > 1 else ""
    if settings.telephony is TelephonyMode.SANDBOX:
        print(
            f"*** SANDBOX TELEPHONE NETWORK: NO REAL CALLS ARE MADE. The line is {settings.phone_number}; "
            f"phones: `ivr phone NUMBER` or {settings.public_url}/console/phone/NUMBER ***",
            flush=True,
        )
    print(
        f"Support line listening on {options.origin} "
        f"(Twilio Voice URL: {settings.public_url}/voice{workers})",
        flush=True,
    )
