"""Where Twilio reaches the desk's webhooks: one place that spells every URL the desk hands out."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Urls:
    """Where Twilio reaches the desk's webhooks (all under /voice: signature-checked)."""

    public_url: str

    def wait(self, entry_id: str, language: str = "") -> str:
        """`language`: the caller's, for a call queued without an entry (after a fault of ours)."""
        return f"{self.public_url}/voice/queue/wait?entry={entry_id}" + (
            f"&language={language}" if language else ""
        )

    def choice(self, entry_id: str) -> str:
        return f"{self.public_url}/voice/queue/choice?entry={entry_id}"

    def queue_done(self, entry_id: str) -> str:
        return f"{self.public_url}/voice/queue/done?entry={entry_id}"

    def join(self, entry_id: str) -> str:
        return f"{self.public_url}/voice/queue/join?entry={entry_id}"

    def whisper(self, offer_id: str) -> str:
        return f"{self.public_url}/voice/agent/whisper?offer={offer_id}"

    def answer(self, offer_id: str) -> str:
        return f"{self.public_url}/voice/agent/answer?offer={offer_id}"

    def agent_status(self, offer_id: str) -> str:
        return f"{self.public_url}/voice/agent/status?offer={offer_id}"

    def voicemail_done(self, vm_id: str) -> str:
        return f"{self.public_url}/voice/voicemail/done?vm={vm_id}"

    def recording(self, vm_id: str) -> str:
        return f"{self.public_url}/voice/voicemail/recording?vm={vm_id}"

    def callback_join(self, callback_id: str) -> str:
        return f"{self.public_url}/voice/callback/join?callback={callback_id}"

    def callback_status(self, callback_id: str) -> str:
        return f"{self.public_url}/voice/callback/status?callback={callback_id}"

    def after_join(self) -> str:
        return f"{self.public_url}/voice/queue/after"
