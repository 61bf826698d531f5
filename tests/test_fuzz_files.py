"""The YAML files supervisors and operators write, fuzzed: flows, prompts, campaigns, business
hours, markets and sources files, each spoilt a few hundred ways and read as the command
line reads it (`ivr flows validate`, `ivr campaigns list`, `ivr serve`'s start-up,
`ivr sources check`).

Each file must either be read, or be refused whole with the file, the line and the reason
(`FlowInvalid`, `CampaignInvalid`, `HoursInvalid`, `MarketsInvalid`, `SourceError`), which
the commands print instead of a traceback. A YAML bomb, a tag that would run code, a
calendar date that does not exist: all the same, a located refusal.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from ivr.flow.files import FlowFiles, compile_files
from ivr.flow.loader import FlowInvalid
from ivr.hours import HoursInvalid, parse_hours
from ivr.markets import MarketsInvalid, load_markets
from ivr.outreach.campaigns import CampaignInvalid, flow_names, parse_campaign
from ivr.sources.spec import parse_sources_text
from ivr.testing.demo_line import ROOT
from ivr.yamlsource import SourceError, load_text
from tests.fuzz_text import spoilt

pytestmark = pytest.mark.inprocess  # market files are written to disk; the count test goes with them

COUNT: dict[str, int] = {}
REFUSED: dict[str, int] = {}
FLOWS = flow_names(ROOT / "flows")
PROMPTS_EN = (ROOT / "prompts" / "en.yaml").read_text()
FOLLOWUP = (ROOT / "flows" / "followup.yaml").read_text()
LANGUAGES = ("en", "de", "sv")


def _flow(text: str, _: Path) -> None:
    compile_files(FlowFiles(text, {"en": PROMPTS_EN}), "flows/followup.yaml", language="en")


def _prompts(text: str, _: Path) -> None:
    compile_files(FlowFiles(FOLLOWUP, {"en": text}), "flows/followup.yaml", language="en")


def _campaign(text: str, _: Path) -> None:
    parse_campaign(load_text(text, "campaigns/x.yaml"), FLOWS)


def _hours(text: str, _: Path) -> None:
    doc = load_text(text, "hours.yaml")  # as `ivr serve` reads IVR_HOURS
    data = doc.data.get("hours", doc.data) if isinstance(doc.data, dict) else doc.data
    parse_hours(data, doc, ("hours",) if isinstance(doc.data, dict) and "hours" in doc.data else ())


def _market(text: str, directory: Path) -> None:
    (directory / "us.yaml").write_text(text, encoding="utf-8", errors="surrogatepass")
    load_markets(directory, LANGUAGES)


def _sources(text: str, _: Path) -> None:
    parse_sources_text(text, "sources.yaml")


REFUSALS = (FlowInvalid, CampaignInvalid, HoursInvalid, MarketsInvalid, SourceError)
FILES: dict[str, tuple[str, Callable[[str, Path], None], int]] = {
    "flow": (FOLLOWUP, _flow, 900),
    "prompts": (PROMPTS_EN, _prompts, 600),
    "campaign": ((ROOT / "campaigns" / "delivery-followup.yaml").read_text(), _campaign, 900),
    "hours": ((ROOT / "flows" / "hours.yaml").read_text(), _hours, 700),
    "market": ((ROOT / "markets" / "us.yaml").read_text(), _market, 400),
    "sources": ((ROOT / "sources" / "shopify.yaml").read_text(), _sources, 700),
}
"""What each file starts from, how it is read, and how many spoilt copies: 4,200 in all."""


def _read(kind: str, text: str, directory: Path) -> None:
    _, read, _ = FILES[kind]
    COUNT[kind] = COUNT.get(kind, 0) + 1
    try:
        read(text, directory)
    except REFUSALS as refused:
        message = "\n".join(refused.lines()) if isinstance(refused, FlowInvalid) else str(refused)
        # The file named (or, for a mistake across market files, their directory), and why.
        assert ".yaml" in message or str(directory) in message, message
        REFUSED[kind] = REFUSED.get(kind, 0) + 1


def _fuzz(kind: str) -> Callable[[Path], None]:
    seed, _, examples = FILES[kind]

    @pytest.mark.timeout(300)
    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,  # the same cases on every run
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(text=spoilt(seed))
    def test(tmp_path: Path, text: str) -> None:
        _read(kind, text, tmp_path)

    return test


test_a_spoilt_flow_is_read_or_refused_with_its_line = _fuzz("flow")
test_spoilt_prompts_are_read_or_refused_with_their_line = _fuzz("prompts")
test_a_spoilt_campaign_is_read_or_refused_with_its_line = _fuzz("campaign")
test_spoilt_hours_are_read_or_refused_with_their_line = _fuzz("hours")
test_a_spoilt_market_is_read_or_refused_with_its_line = _fuzz("market")
test_a_spoilt_sources_file_is_read_or_refused_with_its_line = _fuzz("sources")


def test_the_files_were_fuzzed_as_many_times_as_promised() -> None:
    """Runs after the fuzzing (same module, in order): every kind as often as promised, and
    not all refused (the edits leave many files still valid, deep in the checks)."""
    for kind, (_, _, examples) in FILES.items():
        assert COUNT.get(kind, 0) >= examples, (kind, COUNT)
        assert 0 < REFUSED.get(kind, 0) < COUNT[kind], (kind, COUNT, REFUSED)
