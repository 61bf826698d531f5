"""Faults with real services: the session store goes away mid-call and comes back."""

from __future__ import annotations

import asyncio
import secrets
import shutil
import socket
import subprocess
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ivr.agents.web import AGENT_LINE
from ivr.config import Settings
from ivr.importer import ImportKind, parse_file
from ivr.sandbox.account import TwilioAccount
from ivr.store.backends import build_stores
from ivr.testing.caller import STRANGER_PHONE, Caller
from ivr.testing.demo_line import DEMO, TODAY, load_demo_data, make_settings
from ivr.testing.services import PG_URL, require
from tests.agent_line import agent_app

pytestmark = pytest.mark.process

REDIS_SERVER = shutil.which("redis-server")
APOLOGY = "I'm sorry, something went wrong on our side. Let me connect you with an agent."


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivateRedis:
    """A Redis server of this test's own, so stopping it disturbs nothing else."""

    def __init__(self, workdir: Path) -> None:
        self.port = _free_port()
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert REDIS_SERVER is not None
        self.process = subprocess.Popen(
            [
                REDIS_SERVER,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed")
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.stop()


async def test_losing_redis_mid_call_apologises_hands_off_and_recovers(
    aiohttp_client: Callable, tmp_path: Path, redis: PrivateRedis
) -> None:
    from ivr.web.app import create_app

    settings = make_settings(tmp_path, IVR_SESSION_URL=f"redis://127.0.0.1:{redis.port}/0")
    await load_demo_data(settings)
    client = await aiohttp_client(create_app(settings, today=lambda: TODAY))
    caller = Caller(client)
    await caller.dial_to_menu()
    await caller.press("1")

    redis.stop()
    turn = await caller.press("4512")
    assert turn.heard == ["I'm sorry, something went wrong on our side. Let me connect you with an agent."]
    assert turn.handoff is not None  # a hand-off that needs neither Redis nor the database
    assert (await client.get("/healthz")).status == 200  # the instance stays up

    redis.start()
    fresh = Caller(client)
    await fresh.dial_to_menu()
    await fresh.press("1")
    found = await fresh.press("4512")
    assert "has shipped with UPS" in found.text


class GermanNumberCaller(Caller):
    """Calls the line's German number."""

    def params(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {**super().params(extra), "To": "+4930555010"}


GERMAN_APOLOGY = "Entschuldigung, bei uns ist ein Fehler aufgetreten. Ich verbinde Sie mit einem Mitarbeiter."


async def test_a_german_caller_whose_turn_hits_a_fault_hears_the_apology_and_hand_off_in_german(
    aiohttp_client: Callable, tmp_path: Path, redis: PrivateRedis
) -> None:
    from ivr.web.app import create_app

    settings = make_settings(
        tmp_path,
        IVR_SESSION_URL=f"redis://127.0.0.1:{redis.port}/0",
        IVR_LANGUAGES="en,de,sv",
        IVR_NUMBER_LANGUAGES="+4930555010=de",
    )
    await load_demo_data(settings)
    client = await aiohttp_client(create_app(settings, today=lambda: TODAY))
    caller = Caller(client, phone=STRANGER_PHONE)  # the shared number: the caller chooses German
    choice = await caller.dial()
    assert "Für Deutsch sagen Sie Deutsch oder drücken Sie die 2." in choice.heard
    await caller.press("2")
    asked = await caller.press("1")
    assert asked.heard == ["Bitte geben Sie Ihre Bestellnummer ein und drücken Sie dann die Raute."]

    redis.stop()  # the session (and its language) cannot be read now
    turn = await caller.press("4620")
    (said,) = turn.root.iter("Say")
    assert (said.text, said.get("language"), said.get("voice")) == (GERMAN_APOLOGY, "de-DE", "Polly.Vicki")
    assert turn.handoff is not None and turn.handoff.tag == "Enqueue"
    # the queue it waits in speaks German too, and so does the line if nobody takes the call
    wait_url = turn.handoff.get("waitUrl", "")
    wait = await caller.raw_post(wait_url, caller.params({"QueuePosition": "2", "AvgQueueTime": "0"}))
    assert ET.fromstring(await wait.text()).findtext("Say") == "Sie sind an Position 2 in der Warteschlange."
    gone = await caller.post(turn.handoff.get("action", ""), {"QueueResult": "leave"})
    (bye,) = gone.root.iter("Say")
    assert bye.get("language") == "de-DE" and (bye.text or "").startswith("Leider kann gerade niemand")

    # a first call to the German number, with the store still down: German from the number alone
    first = await GermanNumberCaller(client, phone=STRANGER_PHONE).dial()
    assert first.heard == [GERMAN_APOLOGY] and first.handoff is not None
    # and an English caller on the shared number still hears English
    english = await Caller(client, phone=STRANGER_PHONE).dial()
    assert english.heard == [APOLOGY]


class CuttableLink:
    """A TCP proxy to PostgreSQL that the test can cut and restore: the database "goes away"
    for the app (connections drop, new ones are refused) without stopping the shared server."""

    def __init__(self, target_port: int = 5432) -> None:
        self.target_port = target_port
        self.port = _free_port()
        self.server: asyncio.Server | None = None
        self.pipes: set[asyncio.StreamWriter] = set()

    async def up(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def cut(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None
        for writer in list(self.pipes):
            writer.close()
        self.pipes.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self.pipes.update({writer, up_writer})

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))


async def test_losing_postgres_mid_call_apologises_hands_off_and_recovers(
    aiohttp_client: Callable, tmp_path: Path
) -> None:
    from ivr.store.postgres import PostgresDatabase, upgrade
    from ivr.web.app import create_app

    require("PostgreSQL", "127.0.0.1", 5432)
    link = CuttableLink()
    await link.up()
    schema = f"t_{secrets.token_hex(6)}"
    url = PG_URL.replace("127.0.0.1:5432", f"127.0.0.1:{link.port}")
    await upgrade(url, schema=schema)
    settings = make_settings(tmp_path, IVR_DATABASE_URL=f"{url}?schema={schema}")
    await load_demo_data_into(settings)
    client = await aiohttp_client(create_app(settings, today=lambda: TODAY))
    try:
        caller = Caller(client)
        await caller.dial_to_menu()
        await caller.press("1")

        await link.cut()
        turn = await caller.press("4512")
        assert turn.heard == [
            "I'm sorry, something went wrong on our side. Let me connect you with an agent."
        ]
        assert turn.handoff is not None
        assert (await client.get("/healthz")).status == 200
        ready = await client.get("/readyz")
        assert ready.status == 503 and "database" in await ready.text()

        await link.up()
        fresh = Caller(client)
        await fresh.dial_to_menu()
        await fresh.press("1")
        assert "has shipped with UPS" in (await fresh.press("4512")).text
        assert (await client.get("/readyz")).status == 200
    finally:
        await client.close()
        await link.cut()
        await PostgresDatabase(PG_URL, schema=schema).drop_schema()


async def load_demo_data_into(settings: Settings) -> None:
    stores = build_stores(settings.database_url)
    await stores.open()
    for kind in ImportKind:
        await stores.repository.upsert(parse_file(kind, DEMO / f"{kind.value}.csv"))
    await stores.close()


async def test_a_locked_table_fails_the_turn_within_seconds_not_silently(
    aiohttp_client: Callable, tmp_path: Path
) -> None:
    import asyncpg

    from ivr.store.postgres import QUERY_TIMEOUT, PostgresDatabase, upgrade
    from ivr.web.app import create_app

    require("PostgreSQL", "127.0.0.1", 5432)
    schema = f"t_{secrets.token_hex(6)}"
    await upgrade(PG_URL, schema=schema)
    settings = make_settings(tmp_path, IVR_DATABASE_URL=f"{PG_URL}?schema={schema}")
    await load_demo_data_into(settings)
    client = await aiohttp_client(create_app(settings, today=lambda: TODAY))
    locker = await asyncpg.connect(PG_URL)
    try:
        caller = Caller(client)
        await caller.dial_to_menu()
        transaction = locker.transaction()
        await transaction.start()
        await locker.execute(f'LOCK TABLE "{schema}".calls IN ACCESS EXCLUSIVE MODE')
        started = time.monotonic()
        turn = await caller.press("1")
        waited = time.monotonic() - started
        await transaction.rollback()
        assert turn.heard == [
            "I'm sorry, something went wrong on our side. Let me connect you with an agent."
        ]
        assert waited < QUERY_TIMEOUT + 2  # well inside Twilio's 15-second webhook timeout
    finally:
        await locker.close()
        await client.close()
        await PostgresDatabase(PG_URL, schema=schema).drop_schema()


async def test_a_german_caller_handed_to_the_desk_after_a_fault_is_queued_for_german_in_german(
    aiohttp_client: Callable, tmp_path: Path, redis: PrivateRedis, twilio: TwilioAccount
) -> None:
    app = await agent_app(
        tmp_path,
        twilio,
        IVR_SESSION_URL=f"redis://127.0.0.1:{redis.port}/0",
        IVR_LANGUAGES="en,de,sv",
        IVR_NUMBER_LANGUAGES="+4930555010=de",
    )
    client = await aiohttp_client(app)
    caller = GermanNumberCaller(client, phone=STRANGER_PHONE)
    await caller.dial()
    await caller.press("1")

    redis.stop()
    turn = await caller.press("4620")
    assert turn.heard == [GERMAN_APOLOGY]
    assert turn.handoff is not None and turn.handoff.tag == "Enqueue"
    # the desk takes the call in from its wait URL (the queue lives in the database, not Redis)
    wait = await caller.raw_post(turn.handoff.get("waitUrl", ""), caller.params())
    said = ET.fromstring(await wait.text()).find("Say")
    assert said is not None and said.get("language") == "de-DE"
    assert (said.text or "").startswith("Sie sind als Nächstes dran.")
    (entry,) = await app[AGENT_LINE].desk.store.queue.live()
    assert (entry.reason, entry.skill) == ("system_error", "de")  # for an agent who speaks German
