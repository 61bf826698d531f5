"""Who sent a request, when it came through reverse proxies (IVR_TRUSTED_PROXIES).

Behind a reverse proxy every request comes from the proxy, so one address would stand for
every user: per-address limits would lock everyone out at once. `X-Forwarded-For` is read
only when the request comes from a trusted proxy; each proxy appends the address it was
connected from, so the right-most address that is not a trusted proxy is the client.
Anything to its left was written by the client itself and may be forged.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def client_address(peer: str | None, forwarded_for: Iterable[str], trusted: tuple[IPNetwork, ...]) -> str:
    """The client's address: `peer` (the socket's), or from `X-Forwarded-For` headers when
    `peer` is a trusted proxy."""
    peer = peer or "unknown"
    if not _trusted(peer, trusted):
        return peer
    hops = [hop.strip() for header in forwarded_for for hop in header.split(",")]
    for hop in reversed(hops):
        if not _trusted(hop, trusted):
            return hop
    return hops[0] if hops else peer


def _trusted(address: str, trusted: Sequence[IPNetwork]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)
