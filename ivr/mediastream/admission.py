"""Which media-stream websockets may wait for their `start`, so that a flood cannot block calls.

A websocket only says which call it carries in its `start` message. Until then it is
anonymous: a signed handshake can be replayed (the signature covers the URL, not a moment),
so anonymous sockets are kept few, per address and in all. A new socket is never refused
for their sake: when a limit is reached the longest-waiting anonymous socket makes room.
Twilio sends `start` within milliseconds of opening a stream, so a real stream is never the
one that has waited longest, and an attacker's sockets only push out each other.

It also counts the streams that named their call, for the instance's stream cap: only those
are calls. A socket pushed out is not one any more, though closing it can take a while (its
client may never answer the close), so it must not count while it goes.

Pure bookkeeping; the web handler closes what `admit` returns.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

Socket = TypeVar("Socket")

MAX_WAITING = 64
"""Anonymous sockets in all (a busy instance opens a few per second)."""
MAX_WAITING_PER_ADDRESS = 16
"""Anonymous sockets from one address; Twilio's media edge shares addresses between calls."""


class StreamAdmission(Generic[Socket]):
    def __init__(self, *, total: int = MAX_WAITING, per_address: int = MAX_WAITING_PER_ADDRESS) -> None:
        self.total = total
        self.per_address = per_address
        self._waiting: OrderedDict[Socket, str] = OrderedDict()
        """Anonymous sockets, longest-waiting first, with their address."""
        self._streaming: set[Socket] = set()
        """Sockets that named their call while waiting (never one pushed out)."""

    def admit(self, socket: Socket, address: str) -> list[Socket]:
        """Let `socket` wait for its `start`; returns the sockets to close to make room."""
        evicted: list[Socket] = []
        same = [waiting for waiting, where in self._waiting.items() if where == address]
        while len(same) >= self.per_address:
            evicted.append(same.pop(0))
            del self._waiting[evicted[-1]]
        while len(self._waiting) >= self.total:
            oldest, _ = self._waiting.popitem(last=False)
            evicted.append(oldest)
        self._waiting[socket] = address
        return evicted

    def identified(self, socket: Socket) -> None:
        """The socket named its call (a valid `start`): no longer anonymous, never evicted, and a
        stream toward the cap, unless it was already pushed out and is being closed."""
        if self._waiting.pop(socket, None) is not None:
            self._streaming.add(socket)

    def gone(self, socket: Socket) -> None:
        self._waiting.pop(socket, None)
        self._streaming.discard(socket)

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    @property
    def streaming(self) -> int:
        """Streams carrying a call: what the instance's stream cap counts."""
        return len(self._streaming)
