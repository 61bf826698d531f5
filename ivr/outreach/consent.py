"""The optional `contact_ok` and `time_zone` columns of the orders and repairs files.

Read beside the importer (which ignores columns it does not know), with the same rule: a
bad value refuses the whole file, naming its line. Without a `contact_ok` column, or with
an empty value, the answer is no: only customers who agreed are ever called.
"""

from __future__ import annotations

import csv
import io
from zoneinfo import ZoneInfoNotFoundError

from ivr.config import zone_named
from ivr.importer import ImportFailed, ImportKind

KEYS = {ImportKind.ORDERS: "order_number", ImportKind.REPAIRS: "ticket_number"}
"""The files that carry consent, and the column that names each record."""
_YES = {"yes", "y", "true", "1"}
_NO = {"no", "n", "false", "0", ""}


def parse_consent(kind: ImportKind, text: str, source: str) -> list[tuple[str, bool, str]]:
    """(record number, contact_ok, time_zone) per row; [] for a file that carries no consent."""
    key = KEYS.get(kind)
    if key is None:
        return []
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""))
    header: list[str] | None = None
    rows: list[tuple[str, bool, str]] = []
    while True:
        line = reader.line_num + 1
        try:
            fields = next(reader)
        except StopIteration:
            return rows
        fields = [f.strip() for f in fields]
        if not any(fields):
            continue
        if header is None:
            header = [f.lower().replace(" ", "_") for f in fields]
            continue
        values = dict(zip(header, fields, strict=False))
        ok_text = values.get("contact_ok", "").lower()
        if ok_text not in _YES | _NO:
            raise ImportFailed(
                source, line, f"contact_ok '{ok_text}' must be yes or no (empty: no)", column="contact_ok"
            )
        zone = values.get("time_zone", "")
        if zone:
            try:
                zone_named(zone)
            except (ZoneInfoNotFoundError, ValueError):
                raise ImportFailed(
                    source,
                    line,
                    f"time_zone '{zone}' is not a time zone name like America/New_York",
                    column="time_zone",
                ) from None
        rows.append((values.get(key, ""), ok_text in _YES, zone))
