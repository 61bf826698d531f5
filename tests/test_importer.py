"""The CSV importer: good files become records; bad ones fail with a message a person can act on.

The assertions compare whole messages on purpose: the message is the interface for the
support person who exported the file, so rewording it should be a visible change.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from ivr.importer import (
    ImportErrorCode,
    ImportFailed,
    ImportKind,
    is_e164,
    normalise_postal,
    parse_file,
    parse_text,
)
from ivr.records import Order, OrderStatus, Repair, RepairStatus, Warranty, WarrantyPlan

ORDERS_HEADER = (
    "order_number,phone,customer_name,postal_code,status,carrier,tracking_number,placed_on,ship_date,eta"
)
WARRANTIES_HEADER = "serial_number,order_number,product,purchased_on,expires_on,plan"
REPAIRS_HEADER = "ticket_number,serial_number,phone,product,status,updated_on,eta"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return path


def orders_fail(text: str) -> ImportFailed:
    with pytest.raises(ImportFailed) as info:
        parse_text(ImportKind.ORDERS, text, "orders.csv")
    return info.value


def order_row(
    number: str = "1001",
    phone: str = "+14155550123",
    status: str = "shipped",
    placed_on: str = "2026-03-01",
) -> str:
    return f"{number},{phone},Ada Lovelace,94110,{status},UPS,1Z999,{placed_on},2026-03-02,"


# --- valid files -----------------------------------------------------------------


def test_orders_file_parses_into_orders(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "orders.csv",
        f"{ORDERS_HEADER}\n"
        "1001,+14155550123,Ada Lovelace,94110,shipped,UPS,1Z999,2026-03-01,2026-03-02,2026-03-05\n"
        "0042,+442079460000,Alan Turing,SW1A 1AA,Out_For_Delivery,,,2026-02-27,,\n",
    )

    orders = parse_file(ImportKind.ORDERS, path)

    assert orders == [
        Order(
            order_number="1001",
            phone="+14155550123",
            customer_name="Ada Lovelace",
            postal_code="94110",
            status=OrderStatus.SHIPPED,
            carrier="UPS",
            tracking_number="1Z999",
            placed_on=date(2026, 3, 1),
            ship_date=date(2026, 3, 2),
            eta=date(2026, 3, 5),
        ),
        Order(
            order_number="0042",
            phone="+442079460000",
            customer_name="Alan Turing",
            postal_code="SW1A 1AA",
            status=OrderStatus.OUT_FOR_DELIVERY,
            carrier="",
            tracking_number="",
            placed_on=date(2026, 2, 27),
            ship_date=None,
            eta=None,
        ),
    ]
    assert type(orders[1].status) is OrderStatus


def test_warranties_file_parses_into_warranties(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "warranties.csv",
        f"{WARRANTIES_HEADER}\n"
        "5550001,1001,Kettle Pro,2025-06-01,2027-06-01,EXTENDED\n"
        "5550002,1002,Toaster,,,standard\n",
    )

    assert parse_file(ImportKind.WARRANTIES, path) == [
        Warranty(
            serial_number="5550001",
            order_number="1001",
            product="Kettle Pro",
            purchased_on=date(2025, 6, 1),
            expires_on=date(2027, 6, 1),
            plan=WarrantyPlan.EXTENDED,
        ),
        Warranty(
            serial_number="5550002",
            order_number="1002",
            product="Toaster",
            purchased_on=None,
            expires_on=None,
            plan=WarrantyPlan.STANDARD,
        ),
    ]


def test_repairs_file_parses_into_repairs(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "repairs.csv",
        f"{REPAIRS_HEADER}\n77001,5550001,+14155550123,Kettle Pro, Waiting for parts ,2026-03-10,\n",
    )

    assert parse_file(ImportKind.REPAIRS, path) == [
        Repair(
            ticket_number="77001",
            serial_number="5550001",
            phone="+14155550123",
            product="Kettle Pro",
            status=RepairStatus.WAITING_FOR_PARTS,
            updated_on=date(2026, 3, 10),
            eta=None,
        )
    ]


def test_extra_columns_are_ignored_and_columns_may_be_reordered() -> None:
    text = (
        " Status ,Notes,ETA,Ship_Date,placed_on,tracking_number,carrier,postal_code,"
        "customer_name,PHONE,Order Number\n"
        "delivered,left with neighbour,,,2026-01-05,,,10115,Grace Hopper,+4930123456,7\n"
    )

    [order] = parse_text(ImportKind.ORDERS, text, "orders.csv")

    assert order.order_number == "7"
    assert order.customer_name == "Grace Hopper"
    assert order.postal_code == "10115"
    assert order.phone == "+4930123456"
    assert order.status is OrderStatus.DELIVERED
    assert order.placed_on == date(2026, 1, 5)


def test_values_are_trimmed() -> None:
    text = f"{ORDERS_HEADER}\n 1001 , +14155550123 ,  Ada  , 94110 , shipped ,,,,,\n"

    [order] = parse_text(ImportKind.ORDERS, text, "orders.csv")

    assert (order.order_number, order.phone, order.customer_name, order.postal_code) == (
        "1001",
        "+14155550123",
        "Ada",
        "94110",
    )


def test_header_only_file_gives_no_records() -> None:
    assert parse_text(ImportKind.REPAIRS, REPAIRS_HEADER + "\n", "repairs.csv") == []


def test_blank_lines_are_skipped_but_still_counted() -> None:
    text = f"{ORDERS_HEADER}\n\n{order_row()}\n,,,,,,,,,\n\n{order_row('1002', status='shiped')}\n"

    error = orders_fail(text)

    assert error.line == 6


def test_bom_and_crlf_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    path.write_bytes(
        b"\xef\xbb\xbf" + f"{ORDERS_HEADER}\r\n{order_row()}\r\n{order_row('1002')}\r\n".encode()
    )

    orders = parse_file(ImportKind.ORDERS, path)

    assert [o.order_number for o in orders] == ["1001", "1002"]
    assert orders[0].eta is None


def test_a_multiline_value_in_a_column_that_is_not_imported_is_fine() -> None:
    text = f'{WARRANTIES_HEADER},notes\n1,2,"Kettle Pro, 2L",,,standard,"boxed\nunopened"\n'

    [warranty] = parse_text(ImportKind.WARRANTIES, text, "warranties.csv")

    assert warranty.product == "Kettle Pro, 2L"


# --- bad rows: the message a support person reads -------------------------------


@pytest.mark.parametrize(
    ("value", "code_point", "at"),
    [
        ("Jane\x1b[31m Doe", "U+001B", 5),  # ESC: ill-formed TwiML, drives the terminal
        ("Jane\x07Doe", "U+0007", 5),  # BEL
        ("Ja\x00ne", "U+0000", 3),  # NUL: PostgreSQL refuses it mid-transaction
        ("Jane\x7fDoe", "U+007F", 5),  # DEL
        ("Jane\x85Doe", "U+0085", 5),  # a C1 control
        ('"Jane\nDoe"', "U+000A", 5),  # a line break inside a quoted value
        ("Jane\tDoe", "U+0009", 5),
        ("Jane\u2028Doe", "U+2028", 5),  # a line separator: a line break to a browser's script
        ("\u202eeoD enaJ", "U+202E", 1),  # right-to-left override: shown as "Jane Doe"
        ("Ja\u200bne", "U+200B", 3),  # zero-width space: "Jane" that is not "Jane"
        ("Jane\u2066Doe", "U+2066", 5),  # a bidi isolate
        ("Jane\ufeffDoe", "U+FEFF", 5),  # a byte order mark mid-value
    ],
)
def test_a_control_character_in_any_imported_value_refuses_the_file(
    value: str, code_point: str, at: int
) -> None:
    text = f"{ORDERS_HEADER}\n{order_row('1')}\n" + order_row("2").replace("Ada Lovelace", value) + "\n"

    error = orders_fail(text)

    assert str(error).startswith("orders.csv line 3: column 3 (customer_name): ")
    assert f"holds the control character {code_point} at character {at}; " in str(error)
    assert (error.line, error.column, error.code) == (3, "customer_name", ImportErrorCode.CONTROL_CHARACTER)


@pytest.mark.parametrize(
    ("kind", "text", "column"),
    [
        (ImportKind.WARRANTIES, f"{WARRANTIES_HEADER}\n1,2,Kettle\x1b,,,standard\n", "column 3 (product)"),
        (ImportKind.REPAIRS, f"{REPAIRS_HEADER}\n1,2,+14155550123,Kettle,received,,\x07\n", "column 7 (eta)"),
        (
            ImportKind.ORDERS,
            f"{ORDERS_HEADER}\n1,+14155550123,Ada,94110,shipped,UPS\x1b,,,,\n",
            "column 6 (carrier)",
        ),
    ],
)
def test_control_characters_are_refused_in_every_kind_of_file(
    kind: ImportKind, text: str, column: str
) -> None:
    with pytest.raises(ImportFailed) as caught:
        parse_text(kind, text, "data.csv")

    assert str(caught.value).startswith(f"data.csv line 2: {column}: ")


def test_bad_status_names_the_value_and_the_choices() -> None:
    text = f"{ORDERS_HEADER}\n{order_row('1')}\n{order_row('2')}\n{order_row('3')}\n"
    text += order_row("4", status="shiped") + "\n"

    error = orders_fail(text)

    assert str(error) == (
        "orders.csv line 5: status 'shiped' is not one of received, processing, shipped, "
        "out_for_delivery, delivered, cancelled, returned"
    )
    assert (error.path, error.line, error.column) == ("orders.csv", 5, "status")
    assert error.code is ImportErrorCode.BAD_VALUE


def test_bad_warranty_plan() -> None:
    text = f"{WARRANTIES_HEADER}\n1,2,Kettle,,,lifetime\n"

    with pytest.raises(ImportFailed) as info:
        parse_text(ImportKind.WARRANTIES, text, "warranties.csv")

    assert str(info.value) == ("warranties.csv line 2: plan 'lifetime' is not one of standard, extended")


def test_impossible_date() -> None:
    error = orders_fail(f"{ORDERS_HEADER}\n{order_row(placed_on='2026-02-30')}\n")

    assert str(error) == "orders.csv line 2: placed_on '2026-02-30' is not a real date"
    assert error.column == "placed_on"


@pytest.mark.parametrize("value", ["03/01/2026", "20260301", "2026-3-1", "2026-W09-7"])
def test_date_in_another_form(value: str) -> None:
    error = orders_fail(f"{ORDERS_HEADER}\n{order_row(placed_on=value)}\n")

    assert str(error) == (f"orders.csv line 2: placed_on '{value}' is not a date in the form YYYY-MM-DD")


def test_warranty_that_expires_before_purchase() -> None:
    text = f"{WARRANTIES_HEADER}\n1,2,Kettle,2026-06-01,2025-06-01,standard\n"

    with pytest.raises(ImportFailed) as info:
        parse_text(ImportKind.WARRANTIES, text, "warranties.csv")

    assert str(info.value) == (
        "warranties.csv line 2: expires_on 2025-06-01 is before purchased_on 2026-06-01"
    )


@pytest.mark.parametrize("value", ["4155550123", "+1 415 555 0123", "+04155550123", "+1", "+1-415"])
def test_bad_phone(value: str) -> None:
    error = orders_fail(f"{ORDERS_HEADER}\n{order_row(phone=value)}\n")

    assert str(error) == (
        f"orders.csv line 2: phone '{value}' is not in E.164 form: a + then the country "
        "code and number, digits only, no spaces (e.g. +14155550123)"
    )
    assert error.column == "phone"


@pytest.mark.parametrize("value", ["ORD-1001", "10 01", "١٢٣", "123456789012345678901"])
def test_number_that_is_not_just_digits(value: str) -> None:
    error = orders_fail(f"{ORDERS_HEADER}\n{order_row(number=value)}\n")

    assert str(error) == (
        f"orders.csv line 2: order_number {value!r} must be 1 to 20 digits (0-9) and nothing "
        "else, because callers key it in on the phone keypad"
    )


def test_repair_serial_number_must_be_digits_too() -> None:
    text = f"{REPAIRS_HEADER}\n77001,SN-5,+14155550123,Kettle,closed,,\n"

    with pytest.raises(ImportFailed) as info:
        parse_text(ImportKind.REPAIRS, text, "repairs.csv")

    assert info.value.column == "serial_number"
    assert str(info.value).startswith("repairs.csv line 2: serial_number 'SN-5' must be 1 to 20")


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (",+14155550123,Ada,94110,shipped,,,,,", "order_number is empty; it is required"),
        ("1,+14155550123,  ,94110,shipped,,,,,", "customer_name is empty; it is required"),
        ("1,+14155550123,Ada,,shipped,,,,,", "postal_code is empty; it is required"),
        ("1,,Ada,94110,shipped,,,,,", "phone is empty; it is required"),
        (
            "1,+14155550123,Ada,94110,,,,,,",
            "status is empty; it must be one of received, processing, shipped, "
            "out_for_delivery, delivered, cancelled, returned",
        ),
    ],
)
def test_missing_required_value(row: str, message: str) -> None:
    error = orders_fail(f"{ORDERS_HEADER}\n{row}\n")

    assert str(error) == f"orders.csv line 2: {message}"


def test_postal_code_with_odd_characters() -> None:
    error = orders_fail(f"{ORDERS_HEADER}\n1,+14155550123,Ada,941#10,shipped,,,,,\n")

    assert str(error) == (
        "orders.csv line 2: postal_code '941#10' may contain only letters, digits, spaces and dashes"
    )


def test_long_bad_value_is_shortened_in_the_message() -> None:
    error = orders_fail(f"{ORDERS_HEADER}\n{order_row(status='x' * 200)}\n")

    assert f"status '{'x' * 37}...' is not one of" in str(error)


def test_duplicate_number_is_reported_on_the_later_line() -> None:
    text = f"{ORDERS_HEADER}\n{order_row('1')}\n{order_row('1234')}\n{order_row('2')}\n"
    text += order_row("1234") + "\n"

    error = orders_fail(text)

    assert str(error) == "orders.csv line 5: order 1234 already appears on line 3"
    assert error.code is ImportErrorCode.DUPLICATE_RECORD


def test_duplicate_serial_and_ticket_numbers() -> None:
    warranties = f"{WARRANTIES_HEADER}\n9,1,A,,,standard\n9,2,B,,,standard\n"
    repairs = f"{REPAIRS_HEADER}\n5,1,+15550000001,A,closed,,\n5,2,+15550000002,B,closed,,\n"

    with pytest.raises(ImportFailed) as w:
        parse_text(ImportKind.WARRANTIES, warranties, "w.csv")
    with pytest.raises(ImportFailed) as r:
        parse_text(ImportKind.REPAIRS, repairs, "r.csv")

    assert str(w.value) == "w.csv line 3: serial number 9 already appears on line 2"
    assert str(r.value) == "r.csv line 3: ticket 5 already appears on line 2"


def test_missing_columns_are_all_named_on_line_1() -> None:
    text = "Order_Number,customer_name,status,carrier,tracking_number,placed_on,notes\n"

    error = orders_fail(text)

    assert str(error) == (
        "orders.csv line 1: missing columns phone, postal_code, ship_date, eta "
        "(the header has: Order_Number, customer_name, status, carrier, tracking_number, "
        "placed_on, notes)"
    )
    assert error.code is ImportErrorCode.MISSING_COLUMNS


def test_one_missing_column() -> None:
    with pytest.raises(ImportFailed) as info:
        parse_text(ImportKind.WARRANTIES, "serial_number,order_number,product,plan\n", "w.csv")

    assert str(info.value).startswith("w.csv line 1: missing columns purchased_on, expires_on ")

    with pytest.raises(ImportFailed) as info:
        parse_text(
            ImportKind.WARRANTIES,
            "serial_number,order_number,product,purchased_on,plan\n",
            "w.csv",
        )

    assert str(info.value).startswith("w.csv line 1: missing column expires_on ")


def test_required_column_twice_in_header() -> None:
    error = orders_fail(f"{ORDERS_HEADER},Status\n")

    assert str(error) == (
        "orders.csv line 1: column status appears twice in the header (columns 5 and 11); keep one"
    )


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (
            order_row() + ",extra",
            "this row has 11 values but the header has 10 columns; "
            "a value containing a comma must be wrapped in double quotes",
        ),
        (
            "1,+14155550123,Ada,94110,shipped",
            "this row has 5 values but the header has 10 columns",
        ),
    ],
)
def test_ragged_row(row: str, message: str) -> None:
    error = orders_fail(f"{ORDERS_HEADER}\n{order_row('1')}\n{row}\n")

    assert str(error) == f"orders.csv line 3: {message}"
    assert error.code is ImportErrorCode.WRONG_FIELD_COUNT


def test_line_number_is_physical_after_a_multiline_quoted_value() -> None:
    text = (
        f"{ORDERS_HEADER},notes\n"  # line 1
        '1,+14155550123,Ada,94110,shipped,,,,,,"leave it\nwith the\nneighbours"\n'  # lines 2-4
        "2,+14155550123,Alan,94110,shiped,,,,,,\n"  # line 5
    )

    error = orders_fail(text)

    assert str(error).startswith("orders.csv line 5: status 'shiped'")


def test_bad_record_that_itself_spans_lines_reports_where_it_starts() -> None:
    text = (
        f"{ORDERS_HEADER},notes\r\n"  # line 1
        f"{order_row('1')},\r\n"  # line 2
        '2,+14155550123,Alan,94110,"shiped\r\n",,,,,,"ring\r\ntwice"\r\n'  # lines 3-5
    )

    error = orders_fail(text)

    assert str(error) == (
        "orders.csv line 3: status 'shiped' is not one of received, processing, shipped, "
        "out_for_delivery, delivered, cancelled, returned"
    )


def test_unclosed_quote() -> None:
    text = f'{ORDERS_HEADER}\n{order_row("1")}\n2,+14155550123,"Alan,94110,shipped,,,,,\n3,,\n'

    error = orders_fail(text)

    assert str(error) == (
        'orders.csv line 3: a value opened with a double quote (") on this line is never '
        "closed, so the rest of the file reads as part of it"
    )
    assert error.code is ImportErrorCode.MALFORMED_CSV


def test_text_after_a_closing_quote() -> None:
    error = orders_fail(f'{ORDERS_HEADER}\n1,+14155550123,"Ada" L,94110,shipped,,,,,\n')

    assert str(error) == (
        "orders.csv line 2: a double-quoted value is followed by more text before the next "
        'comma; inside quotes, write a double quote as two ("")'
    )


def test_first_error_wins() -> None:
    text = f"{ORDERS_HEADER}\n{order_row('1', status='nope')}\n{order_row('x')}\n"

    assert orders_fail(text).line == 2


# --- file-level problems ---------------------------------------------------------


def test_empty_file_has_no_header_row(tmp_path: Path) -> None:
    path = write(tmp_path, "orders.csv", "")

    with pytest.raises(ImportFailed) as info:
        parse_file(ImportKind.ORDERS, path)

    assert str(info.value) == (
        f"{path}: the file is empty: no header row (expected columns order_number, phone, "
        "customer_name, postal_code, status, carrier, tracking_number, placed_on, ship_date, eta)"
    )
    assert info.value.line is None
    assert info.value.code is ImportErrorCode.NO_HEADER


def test_blank_lines_only_is_empty_too() -> None:
    assert orders_fail("\r\n\n  \n").code is ImportErrorCode.NO_HEADER


def test_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    path.write_bytes(f"{ORDERS_HEADER}\n{order_row()}\n".encode() + "1,+1555,Zoë".encode("cp1252"))

    with pytest.raises(ImportFailed) as info:
        parse_file(ImportKind.ORDERS, path)

    assert str(info.value) == (
        f"{path} line 3: the file is not UTF-8 text (byte 0xeb cannot be read); "
        "save it from the spreadsheet as 'CSV UTF-8'"
    )
    assert info.value.code is ImportErrorCode.NOT_UTF8


def test_utf16_file(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    path.write_bytes(f"{ORDERS_HEADER}\n".encode("utf-16"))

    with pytest.raises(ImportFailed) as info:
        parse_file(ImportKind.ORDERS, path)

    assert info.value.code is ImportErrorCode.NOT_UTF8
    assert "UTF-16" in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.csv"

    with pytest.raises(ImportFailed) as info:
        parse_file(ImportKind.ORDERS, path)

    assert str(info.value) == f"{path}: cannot read the file: No such file or directory"
    assert info.value.code is ImportErrorCode.UNREADABLE


# --- helpers ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("+14155550123", True),
        ("+12", True),
        ("+123456789012345", True),
        ("+1234567890123456", False),
        ("+1", False),
        ("+0123", False),
        ("14155550123", False),
        ("+1 415", False),
        ("+14155550123\n", False),
        ("+١٢٣", False),
        ("", False),
    ],
)
def test_is_e164(value: str, expected: bool) -> None:
    assert is_e164(value) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [("sw1a 1aa", "SW1A1AA"), ("12345-6789", "123456789"), (" k1a 0b1 ", "K1A0B1"), ("", "")],
)
def test_normalise_postal(value: str, expected: str) -> None:
    assert normalise_postal(value) == expected


def test_kind_accepts_the_command_word() -> None:
    assert parse_text(ImportKind("warranties"), WARRANTIES_HEADER, "w.csv") == []
