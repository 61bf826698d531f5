"""The flow editor over real HTTP: checks, diagram, prompt edits, listening, test calls, roles."""

from __future__ import annotations

import html
import json
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp.test_utils import TestClient

from ivr.config import ConfigError, Settings
from ivr.console.flow_editor import EDITOR
from ivr.records import Order, OrderStatus
from ivr.speech.audio import decode_wav
from ivr.store.accounts import Role
from ivr.store.audit import AuditLog
from ivr.testing.caller import Caller
from ivr.testing.demo_line import ROOT, TODAY, load_demo_data, make_settings
from ivr.web.app import create_app
from ivr.web.keys import CONSOLE, STORES
from tests.console import add_account, console_client, sign_in

FLOW = (ROOT / "flows" / "support.yaml").read_text()
PROMPTS = {path.stem: path.read_text() for path in sorted((ROOT / "prompts").glob("*.yaml"))}
BASE = "/console/flows/support"


SVG = "{http://www.w3.org/2000/svg}"


def fills(node: ET.Element) -> set[str]:
    return {shape.get("fill", "") for shape in node.iter() if shape.tag in (f"{SVG}polygon", f"{SVG}path")}


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


@pytest.fixture
async def app_client(aiohttp_client: Callable, settings: Settings) -> TestClient:
    await load_demo_data(settings)
    app = create_app(settings, today=lambda: TODAY)
    client = await console_client(aiohttp_client, app)
    await add_account(app, "sam", Role.SUPERVISOR, display_name="Sam Supervisor")
    await add_account(app, "alex", Role.AGENT, display_name="Alex Agent")
    return client


async def as_supervisor(client: TestClient) -> dict[str, str]:
    csrf = await sign_in(client, "sam")
    assert csrf
    return {"X-CSRF-Token": csrf}


async def post(client: TestClient, path: str, headers: dict[str, str], **body: Any) -> tuple[int, Any]:
    response = await client.post(f"{BASE}{path}", json=body, headers=headers)
    return response.status, await response.json()


async def test_the_editor_page_carries_the_flow_and_the_code_editor(app_client: TestClient) -> None:
    await as_supervisor(app_client)
    page = await (await app_client.get(BASE)).text()
    assert "faq_returns" in page  # the flow YAML, in the page's data
    assert "/console/vendor/codemirror/mode/yaml/yaml.js" in page
    script = await app_client.get("/console/vendor/codemirror/lib/codemirror.js")
    assert script.status == 200
    assert "CodeMirror" in await script.text()


async def test_broken_yaml_is_an_error_on_its_line(app_client: TestClient) -> None:
    headers = await as_supervisor(app_client)
    lines = FLOW.splitlines()
    bad_line = line_of(FLOW, "faq_returns:") + 1
    lines[bad_line - 1] = "    type: [say"
    status, body = await post(app_client, "/validate", headers, flow="\n".join(lines), prompts=PROMPTS)
    assert status == 200
    assert not body["ok"]
    [problem] = body["problems"]
    assert problem["severity"] == "error"
    assert problem["file"] == "flow"
    assert "not valid YAML" in problem["message"]
    assert abs(problem["line"] - bad_line) <= 1


async def test_an_unknown_state_is_located_to_line_and_state(app_client: TestClient) -> None:
    headers = await as_supervisor(app_client)
    flow = FLOW.replace(
        "prompt: faq.warranty\n    next: anything_else", "prompt: faq.warranty\n    next: anythng_else"
    )
    status, body = await post(app_client, "/validate", headers, flow=flow, prompts=PROMPTS)
    assert status == 200 and not body["ok"]
    problem = next(p for p in body["problems"] if "anythng_else" in p["message"])
    assert problem["state"] == "faq_warranty"
    assert problem["line"] == line_of(flow, "next: anythng_else")
    assert "not a state" in problem["message"]


async def test_a_valid_draft_has_no_errors_and_lists_its_prompts(app_client: TestClient) -> None:
    headers = await as_supervisor(app_client)
    status, body = await post(app_client, "/validate", headers, flow=FLOW, prompts=PROMPTS)
    assert status == 200 and body["ok"]
    assert [p for p in body["problems"] if p["severity"] == "error"] == []
    rows = {row["id"]: row["text"] for row in body["prompts"]["en"]}
    assert rows["faq.returns"].startswith(
        "[{return_rights} ]You can return or exchange any product within 30 days"
    )


async def test_a_prompt_missing_from_the_prompt_file_is_an_error(app_client: TestClient) -> None:
    headers = await as_supervisor(app_client)
    prompts = {"en": PROMPTS["en"].replace("  goodbye: Thanks for calling Acme. Goodbye.\n", "")}
    _, body = await post(app_client, "/validate", headers, flow=FLOW, prompts=prompts)
    assert any("prompt 'goodbye' is missing" in p["message"] for p in body["problems"])


async def test_the_diagram_draws_problem_states_in_red(app_client: TestClient) -> None:
    headers = await as_supervisor(app_client)
    flow = FLOW.replace(
        "prompt: faq.warranty\n    next: anything_else", "prompt: faq.warranty\n    next: nowhere"
    )
    status, body = await post(app_client, "/diagram", headers, flow=flow, prompts=PROMPTS)
    assert status == 200
    assert body["svg"].startswith("<svg")
    assert body["problem_states"] == ["faq_warranty"]
    svg = ET.fromstring(body["svg"])
    nodes = {g.get("id"): g for g in svg.iter(f"{SVG}g")}
    assert fills(nodes["state-faq_warranty"]) == {"#f87171"}  # the problem fill
    assert "#f87171" not in fills(nodes["state-faq_installation"])
    status, body = await post(app_client, "/diagram", headers, flow="states: [", prompts=PROMPTS)
    assert status == 422 and "not readable YAML" in body["error"]


async def test_the_diagram_folds_the_groups_asked_for_and_says_where_each_state_is(
    app_client: TestClient,
) -> None:
    headers = await as_supervisor(app_client)
    status, body = await post(
        app_client, "/diagram", headers, flow=FLOW, prompts=PROMPTS, collapsed=["order"]
    )
    assert status == 200
    assert [(g["name"], g["collapsed"]) for g in body["groups"]] == [
        ("caller_on_file", False),
        ("order", True),
        ("repair", False),
        ("booking", False),
        ("warranty", False),
        ("questions", False),
        ("guides", False),
    ]
    drawn = {g.get("id") for g in ET.fromstring(body["svg"]).iter(f"{SVG}g") if g.get("class") == "node"}
    assert "group-order" in drawn and "state-order_number" not in drawn and "state-faq_menu" in drawn
    lines = FLOW.split("\n")
    assert lines[body["lines"]["state-goodbye"] - 1] == "  goodbye:"  # where a click on it leads
    status, body = await post(app_client, "/diagram", headers, flow=FLOW, prompts=PROMPTS, collapsed="order")
    assert status == 400 and "'collapsed'" in body["error"]


async def test_editing_a_prompt_keeps_the_rest_of_the_file(app_client: TestClient) -> None:
    headers = await as_supervisor(app_client)
    new = "Return anything within 60 days for a full refund."
    status, body = await post(app_client, "/prompt", headers, text=PROMPTS["en"], id="faq.returns", value=new)
    assert status == 200
    changed = body["text"]
    assert yaml.safe_load(changed)["prompts"]["faq"]["returns"] == new
    assert changed.startswith("# English prompts.")  # comments survive
    before = yaml.safe_load(PROMPTS["en"])["prompts"]
    after = yaml.safe_load(changed)["prompts"]
    before["faq"].pop("returns")
    after["faq"].pop("returns")
    assert before == after
    status, body = await post(app_client, "/prompt", headers, text=PROMPTS["en"], id="faq.nothing", value="x")
    assert status == 400 and "no prompt 'faq.nothing'" in body["error"]
    # a prompt the file lacks is added (with `add`), after the others of its group
    lacking = PROMPTS["en"].replace("  goodbye: Thanks for calling Acme. Goodbye.\n", "")
    status, body = await post(
        app_client, "/prompt", headers, text=lacking, id="goodbye", value="Bye.", add=True
    )
    assert status == 200 and yaml.safe_load(body["text"])["prompts"]["goodbye"] == "Bye."
    assert body["text"].startswith("# English prompts.")
    status, body = await post(
        app_client, "/prompt", headers, text=PROMPTS["en"], id="goodbye", value="x", add=True
    )
    assert status == 400 and "already a prompt 'goodbye'" in body["error"]


async def test_listen_returns_real_audio_of_the_prompt(app_client: TestClient) -> None:
    headers = await as_supervisor(app_client)
    status, body = await post(app_client, "/listen", headers, text="Order {order_number:digits} has shipped.")
    assert status == 200
    assert body["text"] == "Order 4 5 1 2 has shipped."
    wav = await app_client.get(body["audio"])
    assert wav.status == 200
    assert wav.headers["Content-Type"] == "audio/wav"
    samples, rate = decode_wav(await wav.read())
    assert rate > 0 and samples.size > rate // 2  # more than half a second of speech
    status, body = await post(app_client, "/listen", headers, text="Broken {placeholder:nope}")
    assert status == 400 and "cannot be spoken" in body["error"]
    # a language the line does not speak has no voice to be heard in
    status, body = await post(app_client, "/listen", headers, text="Hallo.", language="de")
    assert status == 400 and body["code"] == "no_language"


async def test_a_test_call_runs_the_draft_with_real_data(app_client: TestClient) -> None:
    headers = await as_supervisor(app_client)
    prompts = {
        "en": PROMPTS["en"].replace("Thanks for calling Acme after-sales", "Hello from the draft of Acme")
    }
    files = {"flow": FLOW, "prompts": prompts, "language": "en"}
    status, turn = await post(app_client, "/test/call", headers, caller="+15550100001", **files)
    assert status == 200, turn
    assert turn["heard"][0]["text"] == "Hello from the draft of Acme support."
    assert turn["path"] == [
        "welcome",
        "find_return",
        "find_repair_booking",
        "find_caller",
        "caller_orders",
    ]  # the caller ID's order offered
    assert turn["gather"] == {"number": False, "finish_on_key": "", "max_digits": 1}
    status, turn = await post(app_client, "/test/input", headers, token=turn["token"], digits="2", **files)
    assert turn["gather"]["number"] is True
    status, turn = await post(
        app_client, "/test/input", headers, token=turn["token"], digits="4512#", **files
    )
    said = " ".join(h["text"] for h in turn["heard"])
    assert "Order 4 5 1 2 has shipped with UPS" in said
    assert turn["path"][-4:] == [
        "find_order",
        "order_status",
        "tracking_text_check",
        "order_more",
    ]  # no texts here
    status, turn = await post(
        app_client, "/test/input", headers, token=turn["token"], speech="agent", **files
    )
    assert turn["ended"] == "hand-off (caller_asked)"
    assert turn["heard"][-1]["text"] == "Please hold while I connect you with an agent."
    status, body = await post(app_client, "/test/input", headers, token=turn["token"], digits="1", **files)
    assert status == 400 and body["code"] == "test_call_over"


async def test_a_forged_test_call_state_is_refused(app_client: TestClient) -> None:
    headers = await as_supervisor(app_client)
    files = {"flow": FLOW, "prompts": PROMPTS, "language": "en"}
    _, turn = await post(app_client, "/test/call", headers, **files)
    body, mac = turn["token"].rsplit(".", 1)
    forged = body[:-4] + ("AAAA" if body[-4:] != "AAAA" else "BBBB") + "." + mac
    status, answer = await post(app_client, "/test/input", headers, token=forged, digits="1", **files)
    assert status == 400 and answer["code"] == "test_call_forged"


REAL_CUSTOMER = "+14155552671"
"""Not a fictional number (see `ivr.console.test_phone.FICTIONAL`): as a real customer's would be."""
FILES = {"flow": FLOW, "prompts": PROMPTS, "language": "en"}


async def _file_a_real_customers_order(client: TestClient) -> None:
    shipped = OrderStatus.SHIPPED
    order = Order("5555", REAL_CUSTOMER, "Pat Real", "94110", shipped, "UPS", "1Z1", None, None, None)
    await client.app[STORES].repository.upsert([order])


async def test_a_test_calls_turn_works_once(app_client: TestClient) -> None:
    headers = await as_supervisor(app_client)
    _, turn = await post(app_client, "/test/call", headers, caller="+15550100001", **FILES)
    status, pressed = await post(app_client, "/test/input", headers, token=turn["token"], digits="2", **FILES)
    assert status == 200 and pressed["gather"]["number"] is True
    # The same token again (a copied request) is refused, and its call goes on from the new one.
    status, again = await post(app_client, "/test/input", headers, token=turn["token"], digits="2", **FILES)
    assert (status, again["code"]) == (400, "test_call_replayed")
    status, keyed = await post(
        app_client, "/test/input", headers, token=pressed["token"], digits="4512#", **FILES
    )
    assert status == 200 and "has shipped with UPS" in " ".join(h["text"] for h in keyed["heard"])


async def test_a_test_calls_turn_expires(app_client: TestClient) -> None:
    headers = await as_supervisor(app_client)
    _, turn = await post(app_client, "/test/call", headers, **FILES)
    phone = app_client.app[CONSOLE][EDITOR].phone
    phone.clock = lambda: time.time() + 24 * 3600  # the supervisor answers the next day
    status, body = await post(app_client, "/test/input", headers, token=turn["token"], digits="1", **FILES)
    assert (status, body["code"]) == (400, "test_call_expired")


async def test_the_test_phone_does_not_call_as_a_real_customer(app_client: TestClient) -> None:
    await _file_a_real_customers_order(app_client)
    headers = await as_supervisor(app_client)
    status, body = await post(app_client, "/test/call", headers, caller=REAL_CUSTOMER, **FILES)
    assert (status, body["code"]) == (400, "test_caller_not_allowed")
    assert "calls only as a test number" in body["error"] and "IVR_TEST_PHONE_NUMBERS" in body["error"]
    entries = await AuditLog(app_client.app[STORES].sql).recent()
    assert [(e.actor, e.action, e.subject) for e in entries[:1]] == [("sam", "test_phone.refused", "support")]
    assert REAL_CUSTOMER in entries[0].detail


async def test_the_test_phone_sees_only_test_numbers_records(app_client: TestClient) -> None:
    """Without a caller ID, a real order's number and postal code find nothing; a demo order's do."""
    await _file_a_real_customers_order(app_client)
    headers = await as_supervisor(app_client)
    heard = []
    for order, postal_code in (("5555", "94110"), ("7788", "10001")):
        _, turn = await post(app_client, "/test/call", headers, **FILES)
        _, turn = await post(app_client, "/test/input", headers, token=turn["token"], digits="1", **FILES)
        keyed = f"{order}#"
        _, turn = await post(app_client, "/test/input", headers, token=turn["token"], digits=keyed, **FILES)
        if turn["path"][-1] == "ask_postal_code":
            _, turn = await post(
                app_client, "/test/input", headers, token=turn["token"], digits=f"{postal_code}#", **FILES
            )
        heard.append(" ".join(h["text"] for h in turn["heard"]))
    assert "That order number and postal code don't match our records." in heard[0]
    assert "Order 7 7 8 8 is being prepared for shipping" in heard[1]


async def test_test_calls_are_audited(app_client: TestClient) -> None:
    headers = await as_supervisor(app_client)
    status, _ = await post(app_client, "/test/call", headers, caller="+15550100001", **FILES)
    assert status == 200
    [entry] = await AuditLog(app_client.app[STORES].sql).recent(1)
    assert (entry.actor, entry.action, entry.subject, entry.detail) == (
        "sam",
        "test_phone.call",
        "support",
        "caller=+15550100001",
    )


async def test_listed_test_numbers_may_be_called_as(aiohttp_client: Callable, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, IVR_TEST_PHONE_NUMBERS=f"+15550100009, {REAL_CUSTOMER}")
    await load_demo_data(settings)
    client = await console_client(aiohttp_client, create_app(settings, today=lambda: TODAY))
    await _file_a_real_customers_order(client)
    await add_account(client.app, "sam", Role.SUPERVISOR)
    headers = await as_supervisor(client)
    _, turn = await post(client, "/test/call", headers, caller=REAL_CUSTOMER, **FILES)
    assert "Are you calling about order 5 5 5 5, which has shipped?" in " ".join(
        h["text"] for h in turn["heard"]
    )
    _, turn = await post(client, "/test/input", headers, token=turn["token"], digits="1", **FILES)
    assert "Order 5 5 5 5 has shipped with UPS" in " ".join(h["text"] for h in turn["heard"])
    with pytest.raises(ConfigError, match=r"IVR_TEST_PHONE_NUMBERS .*'5550100009'"):
        make_settings(tmp_path, IVR_TEST_PHONE_NUMBERS="+15550100001,5550100009")


async def test_a_test_call_on_an_invalid_draft_says_what_to_fix(app_client: TestClient) -> None:
    headers = await as_supervisor(app_client)
    flow = FLOW.replace("start: welcome", "start: welcom")
    status, body = await post(app_client, "/test/call", headers, flow=flow, prompts=PROMPTS, language="en")
    assert status == 422
    assert "'start' names 'welcom'" in body["error"]


CHANGES = [
    ("/validate", {"flow": FLOW, "prompts": PROMPTS}),
    ("/diagram", {"flow": FLOW, "prompts": PROMPTS}),
    ("/prompt", {"text": PROMPTS["en"], "id": "welcome", "value": "Hi"}),
    ("/listen", {"text": "Hello"}),
    ("/test/call", {"flow": FLOW, "prompts": PROMPTS, "language": "en"}),
    ("/test/input", {"flow": FLOW, "prompts": PROMPTS, "language": "en", "token": "x.y", "digits": "1"}),
]


@pytest.mark.parametrize(("path", "body"), CHANGES, ids=[c[0] for c in CHANGES])
async def test_agents_and_strangers_get_403(app_client: TestClient, path: str, body: dict[str, Any]) -> None:
    anonymous = await app_client.post(f"{BASE}{path}", json=body)
    assert anonymous.status == 403
    csrf = await sign_in(app_client, "alex")
    as_agent = await app_client.post(f"{BASE}{path}", json=body, headers={"X-CSRF-Token": csrf})
    assert as_agent.status == 403
    assert "supervisor" in await as_agent.text()


async def test_an_agent_cannot_open_the_editor(app_client: TestClient) -> None:
    await sign_in(app_client, "alex")
    page = await app_client.get(BASE, allow_redirects=False)
    assert page.status == 403
    assert (await app_client.get("/console/flows", allow_redirects=False)).status == 403


async def test_without_codemirror_the_page_falls_back_to_a_text_box(
    aiohttp_client: Callable, settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr("ivr.console.flow_editor.CODEMIRROR", tmp_path / "missing")
    app = create_app(settings, today=lambda: TODAY)
    client = await console_client(aiohttp_client, app)
    await add_account(app, "sam", Role.SUPERVISOR)
    await sign_in(client, "sam")
    page = await (await client.get(BASE)).text()
    assert "codemirror" not in page.lower()
    assert 'id="flow-yaml"' in page


async def draft_of(client: TestClient) -> dict[str, Any]:
    page = await (await client.get(BASE)).text()
    start = page.index('id="draft-data">') + len('id="draft-data">')
    return json.loads(html.unescape(page[start : page.index("</script>", start)]))


async def test_the_second_save_of_the_same_draft_is_refused(app_client: TestClient) -> None:
    headers = await as_supervisor(app_client)
    opened = await draft_of(app_client)
    mine = FLOW.replace("timeout: 6", "timeout: 7")
    status, saved = await post(
        app_client, "/save", headers, flow=mine, prompts=PROMPTS, revision=opened["revision"]
    )
    assert status == 200 and saved["revision"] == opened["revision"] + 1 and saved["updated_by"] == "sam"
    theirs = FLOW.replace("timeout: 6", "timeout: 9")
    status, body = await post(
        app_client, "/save", headers, flow=theirs, prompts=PROMPTS, revision=opened["revision"]
    )
    assert status == 409
    assert body["error"].startswith("sam saved this draft at ")
    assert "reload to see their changes" in body["error"]
    assert (await draft_of(app_client))["flow"] == mine  # the first save is kept


async def test_publishing_an_invalid_draft_is_refused_with_located_problems(app_client: TestClient) -> None:
    headers = await as_supervisor(app_client)
    opened = await draft_of(app_client)
    flow = FLOW.replace("start: welcome", "start: welcom")
    status, body = await post(
        app_client, "/publish", headers, flow=flow, prompts=PROMPTS, revision=opened["revision"]
    )
    assert status == 422
    [problem] = body["problems"]
    assert problem["line"] == line_of(FLOW, "start: welcome")
    _, listed = await post(app_client, "/diff", headers, flow=FLOW, prompts=PROMPTS)
    assert listed["published"] == 1 and listed["diff"] == ""


@pytest.mark.parametrize("broken", ["no German prompts", "a prompt missing in Swedish"])
async def test_a_draft_validate_calls_ok_is_one_publish_takes(
    aiohttp_client: Callable, tmp_path: Path, broken: str
) -> None:
    """One check for both: the line speaks en, de and sv, and a draft that leaves out a
    language's prompts (or one prompt in one language) was 'ok' to validate, then refused."""
    settings = make_settings(tmp_path, IVR_LANGUAGES="en,de,sv")
    await load_demo_data(settings)
    client = await console_client(aiohttp_client, create_app(settings, today=lambda: TODAY))
    await add_account(client.app, "sam", Role.SUPERVISOR)
    headers = await as_supervisor(client)
    if broken == "no German prompts":
        prompts, file = {code: text for code, text in PROMPTS.items() if code != "de"}, "de"
    else:
        sv = "\n".join(line for line in PROMPTS["sv"].splitlines() if not line.startswith("  goodbye:"))
        prompts, file = {**PROMPTS, "sv": sv + "\n"}, "sv"
    status, checked = await post(client, "/validate", headers, flow=FLOW, prompts=prompts)
    assert status == 200 and not checked["ok"], checked["problems"]
    assert file in [p["file"] for p in checked["problems"] if p["severity"] == "error"]
    opened = await draft_of(client)
    status, refused = await post(
        client, "/publish", headers, flow=FLOW, prompts=prompts, revision=opened["revision"]
    )
    assert status == 422
    assert [p["message"] for p in refused["problems"]] == [p["message"] for p in checked["problems"]]
    status, fine = await post(client, "/validate", headers, flow=FLOW, prompts=PROMPTS)
    assert fine["ok"], fine["problems"]


async def test_publish_then_rollback_are_attributed(app_client: TestClient) -> None:
    headers = await as_supervisor(app_client)
    opened = await draft_of(app_client)
    prompts = {**PROMPTS, "en": PROMPTS["en"].replace("30 days of delivery", "60 days of delivery")}
    _, compared = await post(app_client, "/diff", headers, flow=FLOW, prompts=prompts)
    assert (
        "+      [{return_rights} ]You can return or exchange any product within 60 days" in compared["diff"]
    )
    status, body = await post(
        app_client, "/publish", headers, flow=FLOW, prompts=prompts, revision=opened["revision"], note="60"
    )
    assert status == 200 and body["version"] == 2
    versions = (await (await app_client.get(f"{BASE}/history")).json())["versions"]
    assert [(v["number"], v["by"], v["current"]) for v in versions] == [(2, "sam", True), (1, "seed", False)]
    status, body = await post(app_client, "/rollback", headers, version=1)
    assert status == 200 and body["version"] == 1
    assert body["draft"]["prompts"]["en"] == PROMPTS["en"]  # the draft followed the rollback
    status, body = await post(app_client, "/rollback", headers, version=1)
    assert status == 400 and "already the published version" in body["error"]


LIFECYCLE = [
    ("/save", {"flow": "x", "prompts": PROMPTS, "revision": 1}),
    ("/publish", {"flow": FLOW.replace("30 days", "9 days"), "prompts": PROMPTS, "revision": 1}),
    ("/rollback", {"version": 1}),
]


@pytest.mark.parametrize(("path", "body"), LIFECYCLE, ids=[c[0] for c in LIFECYCLE])
async def test_agents_cannot_save_publish_or_roll_back(
    app_client: TestClient, path: str, body: dict[str, Any]
) -> None:
    await as_supervisor(app_client)
    before = await draft_of(app_client)
    history = await (await app_client.get(f"{BASE}/history")).json()
    await app_client.post("/console/logout", headers={"X-CSRF-Token": (await sign_in(app_client, "sam"))})
    assert (await app_client.post(f"{BASE}{path}", json=body)).status == 403
    csrf = await sign_in(app_client, "alex")
    assert (await app_client.post(f"{BASE}{path}", json=body, headers={"X-CSRF-Token": csrf})).status == 403
    assert (await app_client.get(f"{BASE}/history", headers={"Accept": "application/json"})).status == 403
    await as_supervisor(app_client)
    assert await draft_of(app_client) == before
    assert await (await app_client.get(f"{BASE}/history")).json() == history


async def test_a_guide_is_edited_checked_test_called_published_and_rolled_back_like_a_prompt(
    app_client: TestClient,
) -> None:
    headers = await as_supervisor(app_client)
    opened = await draft_of(app_client)
    guides = opened["guides"]
    assert set(guides) == {"coffee-machine-descaling", "dishwasher-e15", "washing-machine-drain"}
    first = "Switch the dishwasher off, unplug it, and turn off the water tap under the sink."
    broken = {**guides, "dishwasher-e15": guides["dishwasher-e15"].replace("  steps:\n", "  stepz:\n", 1)}
    _, checked = await post(app_client, "/validate", headers, flow=FLOW, prompts=PROMPTS, guides=broken)
    errors = [(p["file"], p["line"], p["message"]) for p in checked["problems"] if p["severity"] == "error"]
    stepz = line_of(guides["dishwasher-e15"], "  steps:")
    assert ("guides/dishwasher-e15", stepz, "'stepz' is not part of a guide's text") in errors
    assert {file for file, _, _ in errors} == {"guides/dishwasher-e15"}

    edited = {**guides, "dishwasher-e15": guides["dishwasher-e15"].replace(first, "Press the reset button.")}
    files = {"flow": FLOW, "prompts": PROMPTS, "guides": edited, "language": "en"}
    _, turn = await post(app_client, "/test/call", headers, caller="", **files)
    _, turn = await post(
        app_client, "/test/input", headers, token=turn["token"], speech="error E 15", **files
    )
    assert turn["heard"][-1]["text"].startswith("Step 1. Press the reset button. Did that help?")

    status, body = await post(
        app_client,
        "/publish",
        headers,
        flow=FLOW,
        prompts=PROMPTS,
        guides=edited,
        revision=opened["revision"],
    )
    assert status == 200 and body["version"] == 2
    assert body["draft"]["guides"] == edited
    caller = Caller(app_client, phone="+15550199999")
    await caller.dial_to_menu()
    assert (await caller.say("error fifteen")).heard[-1].startswith("Step 1. Press the reset button.")
    entries = await AuditLog(app_client.app[STORES].sql).recent()
    published = next(e for e in entries if e.action == "publish" and "version 2" in e.detail)
    assert "+    - Press the reset button." in published.detail  # the guide's diff, audited

    status, _ = await post(app_client, "/rollback", headers, version=1)
    assert status == 200
    again = Caller(app_client, phone="+15550199999")
    await again.dial_to_menu()
    assert (await again.say("error fifteen")).heard[-1].startswith(f"Step 1. {first}")
