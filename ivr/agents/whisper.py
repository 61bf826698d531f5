"""What the agent hears before taking a caller: built only from what the flow collected.

Nothing is guessed or looked up again: a name is said only if the flow learned it, and
whether the caller was verified is said either way, so the agent knows how far to trust it.
"""

from __future__ import annotations

from collections.abc import Mapping

from ivr.speakable import digits as spoken_digits

REASONS = {
    "caller_asked": "asked for an agent",
    "self_service_failed": "could not be helped by the automated line",
    "not_understood": "was not understood by the automated line",
    "system_error": "was handed over after a fault on our side",
}


def _status(value: str) -> str:
    return value.replace("_", " ")


def summary(reason: str, context: Mapping[str, str], *, callback: bool = False) -> str:
    """One spoken paragraph: who (if known), verified or not, why, and the numbers with status."""
    parts: list[str] = []
    who = context.get("customer_name", "")
    verified = context.get("verified") == "yes"
    lead = "Callback for" if callback else "Caller:"
    parts.append(f"{lead} {who or 'name not known'}, {'verified' if verified else 'not verified'}.")
    parts.append(f"The caller {REASONS.get(reason, _status(reason))}.")
    if order := context.get("order_number"):
        status = context.get("order_status", "")
        parts.append(f"Order {spoken_digits(order)}" + (f", {_status(status)}." if status else "."))
    if ticket := context.get("ticket_number"):
        status = context.get("repair_status", "")
        product = context.get("repair_product", "")
        about = f" for a {product}" if product else ""
        parts.append(
            f"Repair ticket {spoken_digits(ticket)}{about}" + (f", {_status(status)}." if status else ".")
        )
    if serial := context.get("serial_number"):
        plan = context.get("warranty_plan", "")
        parts.append(
            f"Serial number {spoken_digits(serial)}" + (f", warranty {_status(plan)}." if plan else ".")
        )
    return " ".join(parts)
