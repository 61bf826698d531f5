"""Logging that never writes a caller's full phone number."""

from __future__ import annotations

import logging
import re

_PHONE = re.compile(r"\+\d{6,15}")


def mask_phone(number: str) -> str:
    """'+15551234567' -> '+1*******67': enough to tell calls apart, not to dial."""
    if len(number) < 6:
        return "*" * len(number)
    return number[:2] + "*" * (len(number) - 4) + number[-2:]


class MaskingFilter(logging.Filter):
    """Masks anything that looks like an E.164 number in every record, as a safety net."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "+" in message:
            record.msg = _PHONE.sub(lambda m: mask_phone(m.group(0)), message)
            record.args = None
        return True


def configure(level: str = "INFO") -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    handler.addFilter(MaskingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # transitions narrates every callback at INFO: noise in the log and time on every turn.
    logging.getLogger("transitions").setLevel(logging.WARNING)
