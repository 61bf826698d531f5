"""`ivr call` at the agent desk's queue: it cannot be put through to an agent, so it says so,
offers a call back, and a caller who hangs up is not left waiting on the desk (the German and
Swedish demo commands are `ivr call`s). The real line and sandbox desk on loopback; the
terminal phone's own code in a thread, with typed answers."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from ivr.agents.model import EntryState
from ivr.agents.web import AGENT_LINE
from ivr.cli.call import PhoneCall, play_call
from ivr.testing.caller import PUBLIC_URL, TOKEN, VERIFIED_PHONE
from tests.sandbox_line import sandbox_line


@pytest.mark.parametrize(("answer", "left_as"), [("", EntryState.ABANDONED), ("1", EntryState.CALLBACK)])
async def test_the_terminal_phone_in_the_queue_hangs_up_cleanly_or_is_called_back(
    tmp_path: Path, answer: str, left_as: EntryState
) -> None:
    async with sandbox_line(tmp_path) as server:
        heard: list[str] = []
        answers = iter(["0", answer])  # an agent, from the greeting; then in the queue
        call = PhoneCall(
            public_url=PUBLIC_URL,
            server_url=str(server.make_url("")).rstrip("/"),
            auth_token=TOKEN,
            caller=VERIFIED_PHONE,
            called="+15550009999",
            out=heard.append,
        )

        def ask(prompt: str) -> str:
            heard.append(prompt)
            return next(answers)

        await asyncio.to_thread(play_call, call, ask)
        desk = server.app[AGENT_LINE].desk
        assert await desk.store.queue.live() == [], "no ghost caller left waiting on the desk"
        entry = await desk.store.queue.for_call(call.call_sid)
        assert entry is not None and entry.state is left_as
        said = "\n".join(heard)
        assert "only a call through the sandbox" in said and "1 = call me back" in said
        callbacks = await desk.store.callbacks.listed(include_done=False)
        if answer == "1":
            assert [c.call_sid for c in callbacks] == [call.call_sid]
            assert "We will call you back" in said
        else:
            assert callbacks == [] and "[you hang up]" in said
