"""Reading request bodies: whatever way a body is unreadable, the sender gets a 400, not a 500.

aiohttp's `request.post()` and `request.json()` raise a different exception for each way a
body can be broken: `ValueError` for a multipart body cut short or a missing boundary,
`RuntimeError` for an unknown Content-Transfer-Encoding, `LookupError` for `charset=bogus`,
`RecursionError` for JSON nested 100,000 levels deep. Every handler that reads a body goes
through these two functions, so one list of them decides, not each handler's guess.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

UNREADABLE = (ValueError, LookupError, RuntimeError, RecursionError)
"""What aiohttp and `json` raise for a body that is not what its Content-Type says."""


class UnreadableBody(ValueError):
    """A body that could not be read as the form or JSON it claims to be.

    A `ValueError`, so a handler that already answers `ValueError` with its own 400 keeps
    doing so."""


def _finite(text: str) -> float:
    """A JSON number as a float, refused when it is too large for one (Python reads it as inf)."""
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise ValueError(f"{text[:20]} is too large a number")
    return value


def _no_constant(name: str) -> float:
    """`NaN`, `Infinity` and `-Infinity`, which Python's `json` accepts and JSON does not."""
    raise ValueError(f"{name} is not JSON")


def strict_loads(text: str) -> Any:
    """`json.loads` without Python's extensions: `NaN`, `Infinity` and numbers such as `1e400`
    (which Python reads as infinity, and `int()` of which raises `OverflowError`) are refused."""
    return json.loads(text, parse_float=_finite, parse_constant=_no_constant)


async def read_json(request: web.Request) -> Any:
    """The request's JSON; raises `UnreadableBody` for anything that is not strict JSON."""
    try:
        return await request.json(loads=strict_loads)
    except UNREADABLE as exc:
        raise UnreadableBody(f"the body is not JSON ({type(exc).__name__})") from None


async def read_form(request: web.Request) -> MultiDictProxy[str | bytes | bytearray | web.FileField]:
    """The request's form fields; a malformed body is a 400 that says why."""
    try:
        return await request.post()
    except UNREADABLE as exc:
        raise web.HTTPBadRequest(text=f"Unreadable form body: {_first_line(exc)}\n") from None


def _first_line(exc: BaseException) -> str:
    """What went wrong, short enough for a 400's text (aiohttp's messages may quote the body)."""
    return (str(exc).splitlines() or [type(exc).__name__])[0][:200]
