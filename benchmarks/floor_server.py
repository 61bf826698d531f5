"""The floors: the least a signed Twilio webhook server can do, to measure `ivr serve` against.

`floor`: a bare aiohttp handler that reads the form, checks `X-Twilio-Signature` with twilio's
own `RequestValidator` (as any Twilio sample does) and answers one constant TwiML document. No
call state, no flow, no database: whatever `ivr serve` does beyond this is its own cost.

`--durable DB`: the same, plus the least a server that keeps each turn's state through a crash
must do, laid out as `ivr`'s SQLite store lays it out (WAL, `synchronous = NORMAL`): the dial
inserts the call's state row (the `calls` table) and its first turn row (`call_turns`), and
every later webhook reads the state row, decodes its JSON (orjson), and in one transaction
writes it back with a compare-and-set on `seq` and appends the turn's row, before answering.
The state is a JSON document of `--session-bytes`, the turn row `--turn-bytes` (what
benchmarks/speed.py measures `ivr serve` writing on its call; give `--turn-bytes 0` for the
single rewritten row of before). No flow, no prompts, constant TwiML: what separates `ivr
serve` from this is its flow engine, prompts and TwiML, nothing else.

    python benchmarks/floor_server.py --port 8081 --public-url http://127.0.0.1:8081
    python benchmarks/floor_server.py --port 8081 --public-url http://127.0.0.1:8081 --durable /tmp/floor.db
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import time
from pathlib import Path

import orjson
from aiohttp import web
from twilio.request_validator import RequestValidator

ANSWER = (
    '<?xml version="1.0" encoding="UTF-8"?><Response><Gather action="/voice/turn?seq=1" '
    'input="dtmf" numDigits="1"><Say>Thank you for calling.</Say></Gather></Response>'
)
CALLS = (
    "CREATE TABLE IF NOT EXISTS calls (call_sid TEXT PRIMARY KEY, seq INTEGER NOT NULL,"
    " data TEXT NOT NULL, caller TEXT NOT NULL, status TEXT NOT NULL, outcome TEXT NOT NULL,"
    " started_at REAL NOT NULL, ended_at REAL)"
)
"""`ivr`'s SQLite `calls` table (ivr/store/sqlite.py, migration 1), with its index below."""
CALLS_STARTED = "CREATE INDEX IF NOT EXISTS calls_started ON calls (started_at)"
TURNS = (
    "CREATE TABLE IF NOT EXISTS call_turns (call_sid TEXT NOT NULL, seq INTEGER NOT NULL,"
    " lines TEXT NOT NULL, answer TEXT NOT NULL, PRIMARY KEY (call_sid, seq)) WITHOUT ROWID"
)
"""`ivr`'s turn rows (ivr/store/sqlite.py, migration 24)."""


class DurableCalls:
    """One session row per call, written before each answer as `ivr`'s SQLite store writes it."""

    def __init__(self, path: Path, session_bytes: int, turn_bytes: int) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode = WAL")
        self.conn.execute("PRAGMA synchronous = NORMAL")
        self.conn.execute(CALLS)
        self.conn.execute(CALLS_STARTED)
        self.conn.execute(TURNS)
        self.filler = "x" * max(0, session_bytes - 60)  # the JSON around it: about 60 bytes
        self.lines = "y" * turn_bytes

    def start(self, call_sid: str, caller: str, now: float) -> None:
        data = orjson.dumps({"call_sid": call_sid, "seq": 1, "filler": self.filler}).decode()
        self.conn.execute("BEGIN IMMEDIATE")
        created = self.conn.execute(
            "INSERT INTO calls (call_sid, seq, data, caller, status, outcome, started_at, ended_at)"
            " VALUES (?, 1, ?, ?, 'in-progress', '', ?, NULL) ON CONFLICT (call_sid) DO NOTHING",
            (call_sid, data, caller, now),
        ).rowcount
        if created and self.lines:
            self.conn.execute("INSERT INTO call_turns VALUES (?, 1, ?, '')", (call_sid, self.lines))
        self.conn.execute("COMMIT")

    def turn(self, call_sid: str, status: str) -> bool:
        """Read the state, advance its `seq`, compare-and-set it and append the turn's row;
        False if the call was not there."""
        row = self.conn.execute("SELECT data FROM calls WHERE call_sid = ?", (call_sid,)).fetchone()
        if row is None:
            return False
        session = orjson.loads(row[0])
        seq = session["seq"]
        session["seq"] = seq + 1
        self.conn.execute("BEGIN IMMEDIATE")
        saved = self.conn.execute(
            "UPDATE calls SET seq = ?, data = ?, status = ? WHERE call_sid = ? AND seq = ?",
            (seq + 1, orjson.dumps(session).decode(), status, call_sid, seq),
        ).rowcount
        if saved and self.lines:
            self.conn.execute("INSERT INTO call_turns VALUES (?, ?, ?, '')", (call_sid, seq + 1, self.lines))
        self.conn.execute("COMMIT")
        return saved == 1


def floor_app(auth_token: str, public_url: str, calls: DurableCalls | None = None) -> web.Application:
    """Every POST: check the signature against `public_url` + path, keep the call's state in
    `calls` if given, answer `ANSWER` (a status callback: 204)."""
    validator = RequestValidator(auth_token)

    async def webhook(request: web.Request) -> web.Response:
        form = await request.post()
        params = {k: v for k, v in form.items() if isinstance(v, str)}
        signature = request.headers.get("X-Twilio-Signature", "")
        if not validator.validate(public_url + request.path_qs, params, signature):
            raise web.HTTPForbidden()
        if calls is not None:
            if request.path == "/voice":
                calls.start(params["CallSid"], params.get("From", ""), time.time())
            elif not calls.turn(params["CallSid"], params.get("CallStatus", "in-progress")):
                raise web.HTTPNotFound()
            if request.path == "/voice/status":
                return web.Response(status=204)
        return web.Response(text=ANSWER, content_type="text/xml")

    app = web.Application()
    app.router.add_post("/{path:.*}", webhook)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--public-url", required=True)
    parser.add_argument(
        "--durable", type=Path, metavar="DB", help="keep each call's session in this SQLite file"
    )
    parser.add_argument(
        "--session-bytes", type=int, default=3000, help="the size of a durable call's state (JSON)"
    )
    parser.add_argument("--turn-bytes", type=int, default=0, help="the size of the row each turn appends")
    args = parser.parse_args()
    calls = DurableCalls(args.durable, args.session_bytes, args.turn_bytes) if args.durable else None
    app = floor_app(os.environ["TWILIO_AUTH_TOKEN"], args.public_url, calls)
    web.run_app(app, host="127.0.0.1", port=args.port, print=None, access_log=None, backlog=4096)


if __name__ == "__main__":
    main()
