"""The answers of the company's own systems, fuzzed: what `ivr/sources/` makes of any body.

A source is somebody else's server; what it sends is not ours to trust. Every answer goes
through the same two steps a lookup uses (`decode_answer`: the bytes to JSON; the shipped
presets' mappings: the JSON to the line's records), fed with mutations of the answers each
preset expects (Shopify, WooCommerce, a company API) and with plain hostile bodies: a value
of the wrong type, a number of 5,000 digits, 100,000 brackets, control characters, dates past the end
of the calendar. Each must come out as records, as "not found", or as the refusal a lookup
turns into "the system is unavailable" (`SourceAnswerInvalid`, `MappingError`); anything
else would be a traceback in `ivr sources test` and an apology on a call.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ivr.records import Order, Repair, Warranty
from ivr.sources.client import SourceAnswerInvalid, decode_answer
from ivr.sources.spec import Lookup, MappingError, map_record, parse_sources_text
from ivr.testing.demo_line import ROOT

EXAMPLES = 3_000
COUNT = {"answers": 0, "records": 0, "refused": 0}
PRESETS = [parse_sources_text(p.read_text(), p.name) for p in sorted((ROOT / "sources").glob("*.yaml"))]
LOOKUPS: list[Lookup] = [lookup for preset in PRESETS for lookup in preset.lookups.values()]
ORDER = {
    "id": 4512,
    "order_number": 1001,
    "number": "1001",
    "name": "#1001",
    "phone": "+15550100001",
    "status": "completed",
    "cancel_reason": None,
    "fulfillment_status": "fulfilled",
    "created_at": "2026-11-02T10:00:00Z",
    "date_created": "2026-11-02T10:00:00",
    "customer": {"phone": "+15550100001", "first_name": "Ana"},
    "shipping_address": {"name": "Ana Ruiz", "zip": "10001", "phone": None},
    "billing": {"phone": "+15550100001", "first_name": "Ana", "last_name": "Ruiz", "postcode": "10001"},
    "shipping": {"first_name": "Ana", "last_name": "Ruiz", "postcode": "10001"},
    "fulfillments": [{"shipment_status": "in_transit", "tracking_company": "UPS", "tracking_number": "1Z9"}],
    "meta_data": [{"key": "_wc_shipment_tracking_items", "value": [{"tracking_number": "1Z9"}]}],
    "ticket_number": "3141",
    "serial_number": "88001",
    "expires_on": "2027-11-15",
    "plan": "standard",
}
HOSTILE: list[Any] = [
    None,
    True,
    0,
    -1,
    "__BIG__",
    1e308,
    float("inf"),
    "",
    "9" * 5000,
    "9999-12-31",
    "0000-00-00",
    "99999999999999999999",
    "2026-02-30",
    "\x1b[2J\x00",
    "\u202e1001",
    "١٠٠١",
    [],
    {},
    [[[[[]]]]],
    {"orders": None},
]


KEY = st.sampled_from(list(ORDER))
VALUE: st.SearchStrategy[Any] = st.recursive(
    st.one_of(st.sampled_from(HOSTILE), st.text(max_size=12), st.integers(), st.floats()),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEY, inner, max_size=4),
    max_leaves=6,
)
"""Built once: a strategy made inside each draw costs more than the case it draws."""
SHAPE = st.sampled_from(["mutated"] * 7 + ["any", "bytes", "deep"])
DEEP = st.sampled_from([(b"[", b"]"), (b'{"orders":', b"}"), (b'{"a":[', b"]}")])
WRAP = st.sampled_from(["orders", "customers", "list", "bare", "data"])


@st.composite
def answer(draw: st.DrawFn) -> bytes:
    """A body as a source might send it: an expected answer with some values spoilt, or junk."""
    shape = draw(SHAPE)
    if shape == "deep":
        opener, closer = draw(DEEP)
        depth = draw(st.sampled_from([1_000, 100_000]))
        return opener * depth + b"1" + closer * depth * draw(st.sampled_from([0, 1]))
    if shape == "bytes":
        return draw(st.binary(max_size=64))
    if shape == "any":
        return json.dumps(draw(VALUE)).encode()
    order = dict(ORDER)
    for key in draw(st.lists(KEY, max_size=5)):
        order[key] = draw(VALUE)
    for key in draw(st.lists(KEY, max_size=2)):
        order.pop(key, None)
    wrap = draw(WRAP)
    document: Any = {
        "orders": {"orders": [order]},
        "customers": {"customers": [order]},
        "list": [order, order],
        "bare": order,
        "data": {"data": order, "results": [order]},
    }[wrap]
    # A number of 5,000 digits, as a server may write it (Python's own int() refuses it).
    return json.dumps(document).encode().replace(b'"__BIG__"', b"9" * 5000)


@pytest.mark.timeout(300)
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,  # the same cases on every run
    database=None,
    suppress_health_check=list(HealthCheck),
)
@given(answer(), st.sampled_from(LOOKUPS))
def test_any_answer_is_records_or_a_refusal_never_a_crash(body: bytes, lookup: Lookup) -> None:
    COUNT["answers"] += 1
    try:
        data = decode_answer(body)
        for request in lookup.requests:
            for path in request.let.values():
                path.first(data)
        records = [map_record(lookup, item) for item in lookup.select.select(data)]
    except (SourceAnswerInvalid, MappingError) as refused:
        assert str(refused)
        COUNT["refused"] += 1
        return
    COUNT["records"] += len(records)
    assert all(isinstance(record, Order | Repair | Warranty) for record in records)


def test_the_answers_were_fuzzed_as_many_times_as_promised() -> None:
    """Runs after the fuzzing (same module, in order): its count, and both ways out taken."""
    assert COUNT["answers"] >= EXAMPLES, COUNT
    assert COUNT["records"] > EXAMPLES // 50 and COUNT["refused"] > EXAMPLES // 50, COUNT
