"""The agent desk's records, one store per kind, each behind a `Protocol`.

`queue` (callers waiting), `offers` (an agent's phone ringing with one of them), `callbacks`,
`voicemails`, `agent_states` and `switches`. The SQL implementations run on SQLite and
PostgreSQL alike through `ivr.store.sql.Sql`; their tables come from the shared migrations.
Changes that must land together (an offer with the claims on its caller and its agent) are
`Statement`s the desk runs in one `atomic` batch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ivr.agents.store.agent_states import AgentStateStore, SqlAgentStateStore
from ivr.agents.store.callbacks import CallbackStore, SqlCallbackStore
from ivr.agents.store.offers import OfferStore, SqlOfferStore
from ivr.agents.store.queue import QueueStore, SqlQueueStore
from ivr.agents.store.switches import SqlSwitchStore, SwitchStore
from ivr.agents.store.voicemails import SqlVoicemailStore, VoicemailStore
from ivr.store.sql import Sql


@dataclass(frozen=True, slots=True)
class DeskStores:
    queue: QueueStore
    offers: OfferStore
    callbacks: CallbackStore
    voicemails: VoicemailStore
    agent_states: AgentStateStore
    switches: SwitchStore

    @classmethod
    def over(cls, sql: Sql, *, clock: Callable[[], float]) -> DeskStores:
        """Every store on one database (they share it: the desk batches across them)."""
        return cls(
            queue=SqlQueueStore(sql, clock=clock),
            offers=SqlOfferStore(sql, clock=clock),
            callbacks=SqlCallbackStore(sql, clock=clock),
            voicemails=SqlVoicemailStore(sql, clock=clock),
            agent_states=SqlAgentStateStore(sql, clock=clock),
            switches=SqlSwitchStore(sql, clock=clock),
        )
