"""Who takes which caller: pure routing over plain data, so it can be tested without a call.

The rule callers and agents both find fair: the caller who has waited longest (callers put
back after a missed offer first) goes to the agent who has been idle longest among those
who can help. An entry without a skill can go to anyone; an entry with one goes only to an
agent who has it. An agent who declined a caller is not offered that caller again.
"""

from __future__ import annotations

from collections.abc import Sequence
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
    by_idle = sorted(agents, key=lambda a: (a.idle_since, a.username))
    for entry in order(waiting):
        for agent in by_idle:
            if agent.username in entry.declined_by:
                continue
            if entry.skill and entry.skill not in agent.skills:
                continue
            return entry, agent
    return None


def pick_for(agent: Idle, waiting: Sequence[Waiting]) -> Waiting | None:
    """The caller this agent should take next when they ask for one ("take next")."""
    found = pick(waiting, [agent])
    return found[0] if found else None
