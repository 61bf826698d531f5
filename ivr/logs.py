"""Logging that never writes a caller's full phone number.

Two formats: `text` for people at a terminal, `json` (one object a line) for log
collectors. JSON lines carry `time`, `pid`, `level`, `logger`, `message`, the message's stable
`code` when it starts with one (`"webhook_failed: ..."`), and the `call_sid` of the
webhook being handled (`call_context`), when there is one.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Literal, TextIO

_PHONE = re.compile(r"\+\d{6,15}")
_CODE = re.compile(r"([a-z][a-z0-9_]*): ")

LogFormat = Literal["text", "json"]

CALL_SID: ContextVar[str | None] = ContextVar("call_sid", default=None)
"""The call whose webhook this task is handling; set with `call_context`."""


@contextmanager
def call_context(call_sid: str | None) -> Iterator[None]:
    """Tag every log record written inside the block with `call_sid`.

    Reset on the way out: aiohttp serves a keep-alive connection's requests in one
    task, so a value left behind would tag the next call's records.
    """
    token = CALL_SID.set(call_sid)
    try:
        yield
    finally:
        CALL_SID.reset(token)


def error_code(message: str) -> str | None:
    """The stable code a message starts with (`"webhook_failed: ..."` -> `webhook_failed`)."""
    match = _CODE.match(message)
    return match.group(1) if match else None


def mask_phone(number: str) -> str:
    """'+15551234567' -> '+1*******67': enough to tell calls apart, not to dial."""
    if len(number) < 6:
        return "*" * len(number)
    return number[:2] + "*" * (len(number) - 4) + number[-2:]


def mask_phones(text: str) -> str:
    """Mask anything in `text` that looks like an E.164 number."""
    return _PHONE.sub(lambda m: mask_phone(m.group(0)), text) if "+" in text else text


class MaskingFilter(logging.Filter):
    """Masks anything that looks like an E.164 number in every record, as a safety net."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "+" in message:
            record.msg = mask_phones(message)
            record.args = None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record; tracebacks are masked like messages."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        entry: dict[str, str | int | None] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "pid": record.process,
            "level": record.levelname,
            "logger": record.name,
            "message": message,
        }
        if (code := error_code(message)) is not None:
            entry["code"] = code
        if (call_sid := CALL_SID.get()) is not None:
            entry["call_sid"] = call_sid
        if record.exc_info:
            entry["exception"] = mask_phones(self.formatException(record.exc_info))
        if record.stack_info:
            entry["stack"] = mask_phones(self.formatStack(record.stack_info))
        return json.dumps(entry, ensure_ascii=False)


def make_handler(
    log_format: LogFormat = "text", stream: TextIO | None = None, *, show_pid: bool = False
) -> logging.Handler:
    """A handler writing `log_format` lines to `stream` (stderr by default), phone numbers masked.

    `show_pid`: name the process on text lines, to tell `ivr serve --workers` apart (JSON lines
    always carry `pid`)."""
    handler = logging.StreamHandler(stream)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        pid = " [%(process)d]" if show_pid else ""
        handler.setFormatter(logging.Formatter(f"%(asctime)s %(levelname)s{pid} %(name)s %(message)s"))
    handler.addFilter(MaskingFilter())
    return handler


def configure(level: str = "INFO", log_format: LogFormat = "text", *, show_pid: bool = False) -> None:
    root = logging.getLogger()
    root.handlers[:] = [make_handler(log_format, show_pid=show_pid)]
    root.setLevel(level)
    # transitions narrates every callback at INFO: noise in the log and time on every turn.
    logging.getLogger("transitions").setLevel(logging.WARNING)
