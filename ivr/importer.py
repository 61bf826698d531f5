"""Parse and validate the support team's CSV exports into records, all or nothing.

`ivr import orders|warranties|repairs FILE.csv` calls `parse_file` and writes what it
returns in one transaction. This module does no database work so it can be tested
with plain strings and reused for uploads.

Why all or nothing: a half-imported file leaves callers hearing stale statuses for
some orders and fresh ones for others, and nobody can tell which. So the first bad
row raises `ImportFailed`, whose message names the file, the physical line (the
number the support person sees in a text editor), the column and the bad value.

Why so strict: every number here is keyed in by a caller on a phone keypad, every
phone number is compared with a caller ID, and every status is read out by the call
flow. A value that would never match (``"ORD-12"``, ``"555 1234"``, ``"shiped"``)
is better rejected at import than discovered by a caller who can't be helped.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Generic, Literal, TypeVar, overload

from ivr.records import (
    Order,
    OrderStatus,
    Repair,
    RepairStatus,
    Warranty,
    WarrantyPlan,
)

__all__ = [
    "ImportErrorCode",
    "ImportFailed",
    "ImportKind",
    "is_e164",
    "normalise_postal",
    "parse_file",
    "parse_text",
]


class ImportKind(StrEnum):
    """Which file is being imported; the values are the `ivr import` sub-command words."""

    ORDERS = "orders"
    WARRANTIES = "warranties"
    REPAIRS = "repairs"


class ImportErrorCode(StrEnum):
    """Stable codes for `ImportFailed`, for logs, metrics and an upload UI.

    The message text may be reworded; these codes will not be.
    """

    UNREADABLE = "unreadable"
    """The file could not be opened or read at all."""
    NOT_UTF8 = "not_utf8"
    """The bytes are not UTF-8 text (often a spreadsheet saved as 'CSV' instead of 'CSV UTF-8')."""
    NO_HEADER = "no_header"
    """The file is empty (or only blank lines)."""
    MISSING_COLUMNS = "missing_columns"
    """The header lacks one or more required columns."""
    DUPLICATE_COLUMN = "duplicate_column"
    """A required column appears twice in the header, so it is ambiguous which to read."""
    MALFORMED_CSV = "malformed_csv"
    """Broken quoting, e.g. a double-quoted value that is never closed."""
    WRONG_FIELD_COUNT = "wrong_field_count"
    """A row has more or fewer values than the header has columns."""
    BAD_VALUE = "bad_value"
    """A value is missing or not in the expected form."""
    DUPLICATE_RECORD = "duplicate_record"
    """The same order, serial or ticket number appears twice in the file."""
    CONTROL_CHARACTER = "control_character"
    """An imported value holds a control character (NUL, ESC, BEL, a line break, ...)."""


class ImportFailed(Exception):
    """The file cannot be imported; nothing from it should be written.

    ``str()`` is written for the support person who exported the file, e.g.
    ``orders.csv line 5: status 'shiped' is not one of received, processing, ...``.
    """

    def __init__(
        self,
        path: str,
        line: int | None,
        reason: str,
        *,
        column: str | None = None,
        code: ImportErrorCode = ImportErrorCode.BAD_VALUE,
    ) -> None:
        self.path = path
        """The file as the user named it (or the upload's name), shown as given."""
        self.line = line
        """1-based physical line where the bad record starts (header = 1); None if file-level."""
        self.column = column
        """The column (canonical lower-case name) holding the bad value, if one does."""
        self.reason = reason
        """Plain English, without the file and line prefix."""
        self.code = code
        """Stable machine-readable category."""
        super().__init__(self._message())

    def _message(self) -> str:
        where = self.path if self.line is None else f"{self.path} line {self.line}"
        return f"{where}: {self.reason}"

    def __str__(self) -> str:
        return self._message()


_E164 = re.compile(r"\+[1-9][0-9]{1,14}")
_DIGITS = re.compile(r"[0-9]{1,20}")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_POSTAL_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015]+")
_POSTAL_ALLOWED = re.compile(r"[A-Z0-9]+")
_MAX_SHOWN = 40
_CONTROL = re.compile(
    r"[\x00-\x1f\x7f-\x9f\u061c\u200b\u200e\u200f\u2028-\u202e\u2060-\u2064\u2066-\u2069\ufeff]"
)
"""C0 controls (tab and line breaks included), DEL and C1 controls: none belongs in a name,
a number or a status. ESC and BEL make TwiML ill-formed (XML 1.0 cannot hold them) and
drive an operator's terminal; PostgreSQL refuses NUL in text. Also the line and paragraph
separators (U+2028, U+2029: line breaks to a browser's script and some terminals), the bidi
controls (U+202E shows "Jane" as "enaJ" and hides what follows) and the invisible ones (the
zero-width space, word joiner, byte order mark): a name with them looks like another. The
zero-width (non-)joiners U+200C and U+200D stay: Persian and Indic names need them."""


def is_e164(s: str) -> bool:
    """True if `s` is exactly an E.164 number: ``+``, then 2-15 digits, the first 1-9.

    Caller IDs from Twilio arrive in this form, so numbers on file must match it
    character for character for caller-ID verification to work.
    """
    return _E164.fullmatch(s) is not None


def normalise_postal(s: str) -> str:
    """Uppercase and drop spaces and dashes, so ``"sw1a 1aa"`` equals ``"SW1A1AA"``.

    Used on both sides when comparing what a caller keys in with the code on file;
    the file keeps the postal code as written for people to read.
    """
    return _POSTAL_SEPARATORS.sub("", s).upper()


def _show(value: str) -> str:
    """Quote a bad value for a message, shortened so a pasted paragraph can't flood it."""
    if len(value) > _MAX_SHOWN:
        value = value[: _MAX_SHOWN - 3] + "..."
    return repr(value)


def _canonical_name(name: str) -> str:
    """Header names and enum values are matched trimmed, case-insensitively, and with
    spaces or dashes read as underscores ("Order Number", "out-for-delivery"), because
    spreadsheets are edited by people, not programs."""
    return re.sub(r"[\s\-]+", "_", name.strip()).casefold()


_LANGUAGE = re.compile(r"[a-z]{2,3}")
_E = TypeVar("_E", bound=StrEnum)
_R = TypeVar("_R", Order, Warranty, Repair)


class _Row:
    """One data row with validating accessors; each raises `ImportFailed` at this row."""

    def __init__(self, source: str, line: int, values: dict[str, str]) -> None:
        self.source = source
        self.line = line
        self._values = values

    def _fail(self, column: str, reason: str) -> ImportFailed:
        return ImportFailed(self.source, self.line, reason, column=column)

    def text(self, column: str) -> str:
        """Free text that may be empty (carrier, tracking number)."""
        return self._values[column]

    def required(self, column: str) -> str:
        """Free text that a caller will hear or a person must see (names, products)."""
        value = self._values[column]
        if not value:
            raise self._fail(column, f"{column} is empty; it is required")
        return value

    def number(self, column: str) -> str:
        """An order, serial or ticket number: ASCII digits only, since callers key it in.

        Leading zeros are kept: the lookup compares the digits the caller presses.
        """
        value = self._values[column]
        if not value:
            raise self._fail(column, f"{column} is empty; it is required")
        if _DIGITS.fullmatch(value) is None:
            raise self._fail(
                column,
                f"{column} {_show(value)} must be 1 to 20 digits (0-9) and nothing else, "
                "because callers key it in on the phone keypad",
            )
        return value

    def phone(self, column: str) -> str:
        """A phone number in E.164, compared verbatim with the caller ID."""
        value = self._values[column]
        if not value:
            raise self._fail(column, f"{column} is empty; it is required")
        if not is_e164(value):
            raise self._fail(
                column,
                f"{column} {_show(value)} is not in E.164 form: a + then the country code "
                "and number, digits only, no spaces (e.g. +14155550123)",
            )
        return value

    def postal(self, column: str) -> str:
        """A postal code, kept as written; it must still normalise to letters and digits."""
        value = self._values[column]
        if not value:
            raise self._fail(column, f"{column} is empty; it is required")
        if _POSTAL_ALLOWED.fullmatch(normalise_postal(value)) is None:
            raise self._fail(
                column,
                f"{column} {_show(value)} may contain only letters, digits, spaces and dashes",
            )
        return value

    def day(self, column: str) -> date | None:
        """An ISO ``YYYY-MM-DD`` date, or None when the cell is empty."""
        value = self._values[column]
        if not value:
            return None
        # date.fromisoformat alone also takes "20260314" and "2026-W11-6"; insist on one form.
        if _ISO_DATE.fullmatch(value) is None:
            raise self._fail(column, f"{column} {_show(value)} is not a date in the form YYYY-MM-DD")
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise self._fail(column, f"{column} {_show(value)} is not a real date") from None

    def language(self, column: str) -> str:
        """An optional language code (`de`, `sv`): the language the customer is greeted in."""
        value = self._values.get(column, "")
        if value and _LANGUAGE.fullmatch(value.lower()) is None:
            raise self._fail(column, f"{column} {_show(value)} is not a language code like en, de or sv")
        return value.lower()

    def choice(self, column: str, enum: type[_E]) -> _E:
        """One of an enum's values, matched like header names (case, spaces, dashes)."""
        value = self._values[column]
        allowed = ", ".join(member.value for member in enum)
        if not value:
            raise self._fail(column, f"{column} is empty; it must be one of {allowed}")
        wanted = _canonical_name(value)
        for member in enum:
            if member.value == wanted:
                return member
        raise self._fail(column, f"{column} {_show(value)} is not one of {allowed}")


@dataclass(frozen=True, slots=True)
class _Spec(Generic[_R]):
    """How to read one kind of file."""

    columns: tuple[str, ...]
    """Required header columns; any others are ignored."""
    key: str
    """The column that must be unique within the file."""
    key_label: str
    """How a person names one record in a duplicate message ("order 1234")."""
    build: Callable[[_Row], _R]
    """Validate a row and construct its record; raises `ImportFailed`."""
    optional: tuple[str, ...] = ()
    """Columns read when the header has them (their cells may be empty)."""


def _order(row: _Row) -> Order:
    return Order(
        order_number=row.number("order_number"),
        phone=row.phone("phone"),
        customer_name=row.required("customer_name"),
        postal_code=row.postal("postal_code"),
        status=row.choice("status", OrderStatus),
        carrier=row.text("carrier"),
        tracking_number=row.text("tracking_number"),
        placed_on=row.day("placed_on"),
        ship_date=row.day("ship_date"),
        eta=row.day("eta"),
        language=row.language("language"),
    )


def _warranty(row: _Row) -> Warranty:
    warranty = Warranty(
        serial_number=row.number("serial_number"),
        order_number=row.number("order_number"),
        product=row.required("product"),
        purchased_on=row.day("purchased_on"),
        expires_on=row.day("expires_on"),
        plan=row.choice("plan", WarrantyPlan),
    )
    # A swapped pair of dates would tell every caller their warranty has lapsed.
    if (
        warranty.purchased_on is not None
        and warranty.expires_on is not None
        and warranty.expires_on < warranty.purchased_on
    ):
        raise ImportFailed(
            row.source,
            row.line,
            f"expires_on {warranty.expires_on.isoformat()} is before "
            f"purchased_on {warranty.purchased_on.isoformat()}",
            column="expires_on",
        )
    return warranty


def _repair(row: _Row) -> Repair:
    return Repair(
        ticket_number=row.number("ticket_number"),
        serial_number=row.number("serial_number"),
        phone=row.phone("phone"),
        product=row.required("product"),
        status=row.choice("status", RepairStatus),
        updated_on=row.day("updated_on"),
        eta=row.day("eta"),
    )


_ORDERS: _Spec[Order] = _Spec(
    columns=(
        "order_number",
        "phone",
        "customer_name",
        "postal_code",
        "status",
        "carrier",
        "tracking_number",
        "placed_on",
        "ship_date",
        "eta",
    ),
    optional=("language",),
    key="order_number",
    key_label="order",
    build=_order,
)
_WARRANTIES: _Spec[Warranty] = _Spec(
    columns=("serial_number", "order_number", "product", "purchased_on", "expires_on", "plan"),
    key="serial_number",
    key_label="serial number",
    build=_warranty,
)
_REPAIRS: _Spec[Repair] = _Spec(
    columns=(
        "ticket_number",
        "serial_number",
        "phone",
        "product",
        "status",
        "updated_on",
        "eta",
    ),
    key="ticket_number",
    key_label="ticket",
    build=_repair,
)


def _csv_problem(error: csv.Error) -> str:
    """Say what a csv module error means in terms of what to fix in the spreadsheet."""
    text = str(error)
    if "unexpected end of data" in text:
        return (
            'a value opened with a double quote (") on this line is never closed, '
            "so the rest of the file reads as part of it"
        )
    if "expected after" in text:
        return (
            "a double-quoted value is followed by more text before the next comma; "
            'inside quotes, write a double quote as two ("")'
        )
    return f"this row is not valid CSV ({text})"


def _records(source: str, text: str) -> Iterator[tuple[int, list[str]]]:
    """Yield (physical start line, trimmed fields) for each non-blank CSV record.

    `csv.reader.line_num` counts lines consumed so far, so a record starts one line
    after where the previous one ended, even when a quoted value spans lines.
    """
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    while True:
        start = reader.line_num + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            raise ImportFailed(
                source, start, _csv_problem(error), code=ImportErrorCode.MALFORMED_CSV
            ) from None
        trimmed = [field.strip() for field in fields]
        # Spreadsheets often export trailing rows of bare commas; they are blank lines too.
        if any(trimmed):
            yield start, trimmed


def _header_positions(source: str, line: int, header: list[str], spec: _Spec[_R]) -> dict[str, int]:
    """Map each required column to its index, or fail naming every missing column."""
    names = [_canonical_name(name) for name in header]
    positions: dict[str, int] = {}
    for index, name in enumerate(names):
        if name not in spec.columns and name not in spec.optional:
            continue
        if name in positions:
            raise ImportFailed(
                source,
                line,
                f"column {name} appears twice in the header (columns {positions[name] + 1} "
                f"and {index + 1}); keep one",
                column=name,
                code=ImportErrorCode.DUPLICATE_COLUMN,
            )
        positions[name] = index
    missing = [column for column in spec.columns if column not in positions]
    if missing:
        plural = "column" if len(missing) == 1 else "columns"
        found = ", ".join(name for name in header if name) or "nothing"
        raise ImportFailed(
            source,
            line,
            f"missing {plural} {', '.join(missing)} (the header has: {found})",
            code=ImportErrorCode.MISSING_COLUMNS,
        )
    return positions


def _refuse_controls(source: str, line: int, fields: list[str], positions: dict[str, int]) -> None:
    """Fail on the first control character in a column that is imported (others are ignored,
    so a multi-line note beside the data is fine), naming the column by number and name."""
    for name, index in sorted(positions.items(), key=lambda item: item[1]):
        found = _CONTROL.search(fields[index])
        if found is None:
            continue
        where = f"column {index + 1} ({name})"
        raise ImportFailed(
            source,
            line,
            f"{where}: {_show(fields[index])} holds the control character U+{ord(found.group()):04X} "
            f"at character {found.start() + 1}; remove it (line breaks and tabs too) and save again",
            column=name,
            code=ImportErrorCode.CONTROL_CHARACTER,
        )


def _parse(text: str, source: str, spec: _Spec[_R]) -> list[_R]:
    text = text.removeprefix("\ufeff")
    rows = _records(source, text)
    first = next(rows, None)
    if first is None:
        raise ImportFailed(
            source,
            None,
            f"the file is empty: no header row (expected columns {', '.join(spec.columns)})",
            code=ImportErrorCode.NO_HEADER,
        )
    header_line, header = first
    positions = _header_positions(source, header_line, header, spec)

    records: list[_R] = []
    first_seen: dict[str, int] = {}
    for line, fields in rows:
        if len(fields) != len(header):
            hint = (
                "; a value containing a comma must be wrapped in double quotes"
                if len(fields) > len(header)
                else ""
            )
            raise ImportFailed(
                source,
                line,
                f"this row has {len(fields)} values but the header has {len(header)} columns{hint}",
                code=ImportErrorCode.WRONG_FIELD_COUNT,
            )
        _refuse_controls(source, line, fields, positions)
        row = _Row(source, line, {name: fields[i] for name, i in positions.items()})
        record = spec.build(row)
        key = row.text(spec.key)
        if key in first_seen:
            raise ImportFailed(
                source,
                line,
                f"{spec.key_label} {key} already appears on line {first_seen[key]}",
                column=spec.key,
                code=ImportErrorCode.DUPLICATE_RECORD,
            )
        first_seen[key] = line
        records.append(record)
    return records


@overload
def parse_text(kind: Literal[ImportKind.ORDERS], text: str, source_name: str) -> list[Order]: ...
@overload
def parse_text(kind: Literal[ImportKind.WARRANTIES], text: str, source_name: str) -> list[Warranty]: ...
@overload
def parse_text(kind: Literal[ImportKind.REPAIRS], text: str, source_name: str) -> list[Repair]: ...
@overload
def parse_text(
    kind: ImportKind, text: str, source_name: str
) -> list[Order] | list[Warranty] | list[Repair]: ...
def parse_text(kind: ImportKind, text: str, source_name: str) -> list[Order] | list[Warranty] | list[Repair]:
    """Parse CSV text of the given kind; `source_name` is used in error messages.

    Returns every record in file order, or raises `ImportFailed` at the first problem.
    A header with no data rows returns ``[]``.
    """
    kind = ImportKind(kind)
    if kind is ImportKind.ORDERS:
        return _parse(text, source_name, _ORDERS)
    if kind is ImportKind.WARRANTIES:
        return _parse(text, source_name, _WARRANTIES)
    return _parse(text, source_name, _REPAIRS)


def _decode(data: bytes, source: str) -> str:
    """UTF-8 (with or without the BOM Excel adds), or a message that says how to fix it."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ImportFailed(
            source,
            None,
            "the file is UTF-16 text, not UTF-8; save it from the spreadsheet as 'CSV UTF-8'",
            code=ImportErrorCode.NOT_UTF8,
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise ImportFailed(
            source,
            line,
            f"the file is not UTF-8 text (byte 0x{data[error.start]:02x} cannot be read); "
            "save it from the spreadsheet as 'CSV UTF-8'",
            code=ImportErrorCode.NOT_UTF8,
        ) from None


@overload
def parse_file(kind: Literal[ImportKind.ORDERS], path: Path) -> list[Order]: ...
@overload
def parse_file(kind: Literal[ImportKind.WARRANTIES], path: Path) -> list[Warranty]: ...
@overload
def parse_file(kind: Literal[ImportKind.REPAIRS], path: Path) -> list[Repair]: ...
@overload
def parse_file(kind: ImportKind, path: Path) -> list[Order] | list[Warranty] | list[Repair]: ...
def parse_file(kind: ImportKind, path: Path) -> list[Order] | list[Warranty] | list[Repair]:
    """Read and parse a CSV file; messages name the path as the user gave it.

    The whole file is read before parsing: these exports are small, and it lets an
    encoding error be reported before any row is looked at.
    """
    source = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as error:
        reason = error.strerror or str(error)
        raise ImportFailed(
            source, None, f"cannot read the file: {reason}", code=ImportErrorCode.UNREADABLE
        ) from error
    return parse_text(kind, _decode(data, source), source)
