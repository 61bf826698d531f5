"""Who takes which caller: pure routing over plain data, so it can be tested without a call.

The rule callers and agents both find fair: the caller who has waited longest (callers put
back after a missed offer first) goes to the agent who has been idle longest among those
who can help. Skills are free tags on accounts: languages (`en`, `de`) and topics (`orders`,
`repairs`, `warranty`).

- An entry's `skill` (the line's language, or what the flow put in the context as `skill`) is
  required: only agents who list it take the caller. An agent who lists no skills at all is
  a generalist and takes anyone.
- Its `topic` (what the caller called about, from the numbers the flow collected) is
  preferred, never required: among the agents who can take the caller, those who know the
  topic come first, so nobody waits for a specialist while a colleague is free.
- An agent who declined a caller is not offered that caller again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Waiting:
    """A caller (or a callback) waiting for an agent."""

    id: str
    skill: str
    """Empty: any agent may take it."""
    priority: int
    """Higher first: 1 for callers put back at the head of the queue, else 0."""
    since: float
    """When it started waiting (enqueued, or the callback became due)."""
    declined_by: frozenset[str] = frozenset()
    topic: str = ""
    """Preferred skill (see `topic_of`); empty: no preference."""


TOPICS = (("ticket_number", "repairs"), ("serial_number", "warranty"), ("order_number", "orders"))


def topic_of(context: Mapping[str, str]) -> str:
    """What the caller called about, from what the flow collected (its own `topic` wins)."""
    if topic := context.get("topic", ""):
        return topic
    return next((topic for key, topic in TOPICS if context.get(key)), "")


@dataclass(frozen=True, slots=True)
class Idle:
    """An available agent."""

    username: str
    skills: frozenset[str]
    idle_since: float


def order(waiting: Sequence[Waiting]) -> list[Waiting]:
    """Queue order: put-back callers first, then by how long they have waited."""
    return sorted(waiting, key=lambda w: (-w.priority, w.since, w.id))


def pick(waiting: Sequence[Waiting], agents: Sequence[Idle]) -> tuple[Waiting, Idle] | None:
    """The next offer to make, or None when no waiting caller has an agent who can take them."""
    for entry in order(waiting):
        able = [a for a in agents if a.username not in entry.declined_by and _can_take(a, entry)]
        if able:
            return entry, min(able, key=lambda a: (entry.topic not in a.skills, a.idle_since, a.username))
    return None


def _can_take(agent: Idle, entry: Waiting) -> bool:
    return not agent.skills or not entry.skill or entry.skill in agent.skills


def pick_for(agent: Idle, waiting: Sequence[Waiting]) -> Waiting | None:
    """The caller this agent should take next when they ask for one ("take next")."""
    found = pick(waiting, [agent])
    return found[0] if found else None
