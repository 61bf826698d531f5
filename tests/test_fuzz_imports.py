"""`ivr import` fuzzed: the demo's CSV exports spoilt a few thousand ways, each imported.

The importer's promise is all or nothing with a reason a person can act on: a file is either
records (and the consent its rows carry), or `ImportFailed` naming the file, the line and
why, which `ivr import` prints instead of a traceback. Anything else escaping the parser
would be a traceback at the terminal, or half an import.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ivr.importer import ImportFailed, ImportKind, parse_text
from ivr.outreach.consent import parse_consent
from ivr.testing.demo_line import ROOT
from tests.fuzz_text import spoilt

EXAMPLES = 1_000
"""Per kind of file: 3,000 imports in all."""
SEEDS = {kind: (ROOT / "demo" / f"{kind.value}.csv").read_text() for kind in ImportKind}
COUNT = {"files": 0, "imported": 0, "refused": 0}
BUDGET = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,  # the same cases on every run
    database=None,
    suppress_health_check=list(HealthCheck),
)


def _import(kind: ImportKind, text: str) -> None:
    name = f"{kind.value}.csv"
    COUNT["files"] += 1
    try:
        records = parse_text(kind, text, name)
        parse_consent(kind, text, name)
    except ImportFailed as refused:
        assert str(refused).startswith(name), refused  # the file, then the line and the reason
        COUNT["refused"] += 1
        return
    COUNT["imported"] += 1
    assert all(getattr(record, "phone", "+").startswith("+") for record in records)


@pytest.mark.timeout(300)
@BUDGET
@given(st.data())
@pytest.mark.parametrize("kind", list(ImportKind))
def test_a_spoilt_export_is_imported_whole_or_refused_with_its_line(
    kind: ImportKind, data: st.DataObject
) -> None:
    _import(kind, data.draw(spoilt(SEEDS[kind])))


def test_the_exports_were_fuzzed_as_many_times_as_promised() -> None:
    """Runs after the fuzzing (same module, in order)."""
    assert COUNT["files"] >= EXAMPLES * len(ImportKind), COUNT
    assert COUNT["imported"] > 0 and COUNT["refused"] > COUNT["files"] // 4, COUNT
