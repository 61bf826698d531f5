"""The insights page (`/console/insights`): how the line performs, for supervisors and admins.

One GET page for a period (the line's own days, in its time zone), a language and a flow
version (the filters are the query string, so a view can be bookmarked and nothing changes
on the server), drawn with Chart.js
(installed by `npm ci` in console-assets/, served from here, no CDN), the flow diagram
shaded by drop-off, and a CSV export of each table.
"""

from __future__ import annotations

import asyncio
import csv
import io
import logging
import re
from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from ivr.console.flow_editor import EDITOR
from ivr.console.teaching import guess_languages
from ivr.console.web import render, require
from ivr.flow.diagram import DiagramError, Shade, build_graph, render_svg, to_dot
from ivr.flow.files import LINE_FLOW, FlowFiles
from ivr.insights.days import calendar_day
from ivr.insights.service import Insights, Period
from ivr.store.accounts import Role
from ivr.versions.store import FlowNotFound
from ivr.yamlsource import load_text

log = logging.getLogger(__name__)

INSIGHTS = web.AppKey("insights", Insights)
CHARTJS = Path(__file__).resolve().parents[2] / "console-assets" / "node_modules" / "chart.js" / "dist"
"""Chart.js 4, installed by `npm ci` in console-assets/ (scripts/setup)."""
DEFAULT_DAYS = 7
MAX_DAYS = 400
TABLES = (
    "outcomes",
    "transfer_reasons",
    "handoff_results",
    "states",
    "understanding",
    "misheard",
    "paths",
    "volume",
    "volume_hours",
    "satisfaction",
    "comparison",
)


LABELS = {
    "caller_asked": "asked for a person",
    "not_understood": "not understood",
    "self_service_failed": "self-service failed (a lookup or a number)",
    "guide_not_solved": "a troubleshooting guide did not fix it",
    "after_hours_voicemail": "after-hours voicemail",
    "callback_requested": "callback requested",
    "voicemail": "left a message from the queue",
    "answered": "an agent answered",
    "abandoned": "hung up",
    "dialled": "dialled a number",
    "no_agent": "nobody answered",
    "resolved": "resolved by the line",
    "transferred": "handed to a person",
    "no_input": "silence, line hung up",
    "agents_unavailable": "no agent available",
}
"""Words for the reasons and results the records keep (their names are in the CSV and JSON)."""
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _bad(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=message + "\n")


def _day(query: dict[str, str], key: str, default: date) -> date:
    text = query.get(key, "")
    if not text:
        return default
    try:
        return calendar_day(text)
    except ValueError as exc:
        raise _bad(f"'{key}' must be {exc}.") from None


def _number(query: dict[str, str], key: str) -> int | None:
    text = query.get(key, "")
    if not text:
        return None
    if not text.isdigit() or len(text) > 9:
        raise _bad(f"'{key}' must be a version number.")
    return int(text)


class View:
    """The filters of one request, checked."""

    def __init__(self, request: web.Request) -> None:
        query = dict(request.query)
        today = request.app[INSIGHTS].today()
        self.until = _day(query, "until", today)
        self.since = _day(query, "since", self.until - timedelta(days=DEFAULT_DAYS - 1))
        if self.since > self.until:
            raise _bad("'since' is after 'until'.")
        if (self.until - self.since).days >= MAX_DAYS:
            raise _bad(f"Choose at most {MAX_DAYS} days.")
        self.version = _number(query, "version")
        self.language = query.get("language", "")[:16] or None
        self.older = _number(query, "older")
        self.newer = _number(query, "newer")

    def fields(self) -> dict[str, str]:
        """Every filter as the form shows it ('' when not chosen)."""
        return {
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "version": str(self.version or ""),
            "language": self.language or "",
            "older": str(self.older or ""),
            "newer": str(self.newer or ""),
        }

    def query(self) -> str:
        """The chosen filters as a query string (for the CSV links)."""
        return urlencode({k: v for k, v in self.fields().items() if v})


async def _gather(insights: Insights, view: View) -> dict[str, Any]:
    """Everything the page shows; the independent reads run at once (on PostgreSQL, in parallel)."""
    await insights.fold()
    versions, languages = await asyncio.gather(insights.versions(), insights.languages())
    numbers = [v["version"] for v in versions if v["version"]]
    older, newer = view.older, view.newer
    if older is None and newer is None and len(numbers) >= 2:
        older, newer = numbers[-2], numbers[-1]
    period = Period(view.since, view.until)
    figures, comparison = await asyncio.gather(
        insights.figures(period, version=view.version, language=view.language, detail=True, fold=False),
        insights.compare(older, newer, language=view.language, fold=False) if older and newer else _none(),
    )
    return {"figures": figures, "versions": versions, "languages": languages, "comparison": comparison}


async def _none() -> None:
    return None


def drop_off_shades(figures: dict[str, Any]) -> dict[str, Shade]:
    """Each passed state's colour: white to red by the share of its calls that ended there
    unresolved or went to an agent from it."""
    shades = {}
    for state, row in figures["states"].items():
        lost = row["dropped"] + row["handed_over"]
        share = lost / row["passed"] if row["passed"] else 0.0
        level = int(255 - 180 * min(1.0, share))
        shades[state] = Shade(
            f"#ff{level:02x}{level:02x}",
            f"{row['passed']} calls passed; {row['dropped']} ended here unresolved,"
            f" {row['handed_over']} went to an agent from here ({share:.0%})",
        )
    return shades


PROMPT_WORDS = 8
"""Words of a state's prompt shown beside its name: enough to recognise the question."""
_OPTIONAL = re.compile(r"\[[^\[\]]*\]")
_PLACEHOLDER = re.compile(r"\{[^{}]*\}")


def state_names(flow_text: str, prompts_text: str | None) -> dict[str, str]:
    """A readable name for each state: its id in words, and the opening words of what the
    caller hears there in the line's language ("order number · “Please say or key in your
    order number…”"); a state that says nothing is named by its id and its kind.
    Supervisors know the line by what it says, not by `ask_postal_code`."""
    flow = load_text(flow_text, "flow").data
    prompts = (load_text(prompts_text, "prompts").data or {}).get("prompts", {}) if prompts_text else {}
    names = {}
    for state, spec in ((flow or {}).get("states") or {}).items():
        spec = spec if isinstance(spec, dict) else {}
        name = str(state).replace("_", " ")
        prompt = spec.get("prompt")
        if isinstance(prompt, list):  # several prompts said in turn: the first opens the state
            prompt = next(iter(prompt), None)
        text = prompts.get(prompt) if isinstance(prompt, str) else None
        if isinstance(text, dict):  # a prompt with a variant per status: the first says enough
            text = next(iter(text.values()), None)
        if isinstance(text, str) and text.strip():
            words = _PLACEHOLDER.sub("…", _OPTIONAL.sub("", text)).split()
            opening = " ".join(words[:PROMPT_WORDS]) + ("…" if len(words) > PROMPT_WORDS else "")
            names[str(state)] = f"{name} · “{opening}”"
        elif kind := spec.get("type"):
            names[str(state)] = f"{name} ({kind})"
    return names


async def _shown_flow(insights: Insights, version: int | None) -> FlowFiles | None:
    """The files of the version the page shows (the published one unless one is picked)."""
    try:
        found = await (
            insights.flows.version(LINE_FLOW, version) if version else insights.flows.published(LINE_FLOW)
        )
    except FlowNotFound:
        return None
    return found.files


async def _diagram(files: FlowFiles | None, figures: dict[str, Any]) -> str:
    if files is None:
        return ""
    shades = drop_off_shades(figures)
    dot = await asyncio.to_thread(lambda: to_dot(build_graph(load_text(files.flow, "flow")), shades=shades))
    try:
        return await render_svg(dot)
    except DiagramError as exc:
        log.error("%s: the insights page shows no diagram: %s", exc.code, exc.detail)
        return ""


async def insights_page(request: web.Request) -> web.Response:
    require(request, Role.SUPERVISOR)
    view = View(request)
    insights = request.app[INSIGHTS]
    data, files = await asyncio.gather(_gather(insights, view), _shown_flow(insights, view.version))
    svg = await _diagram(files, data["figures"])
    if files is not None:
        language = insights.flows.language
        data["state_names"] = await asyncio.to_thread(state_names, files.flow, files.prompts.get(language))
    return render(
        request,
        "insights.html",
        data=data,
        view=view.fields(),
        query=view.query(),
        svg=svg,
        labels=LABELS,
        weekdays=WEEKDAYS,
        zone=str(insights.zone),
        chartjs=(CHARTJS / "chart.umd.min.js").is_file(),
        teach=await _teaching(request, insights, view, data["figures"]),
    )


async def _teaching(
    request: web.Request, insights: Insights, view: View, figures: dict[str, Any]
) -> dict[str, Any]:
    """What the misheard table's "teach" forms offer: the published flow's intents, the line's
    languages, and each sentence's likely language (the view's, when it shows one)."""
    editor = request.app.get(EDITOR)
    flow = await insights.flow(None)
    if editor is None or flow is None or not flow.intents:
        return {}
    said = [m["words"] for found in figures["misheard"].values() for m in found]
    if view.language in editor.languages:
        guesses = {text: view.language for text in said}
    else:
        guesses = guess_languages(flow, said, editor.languages)
    return {"intents": [i.name for i in flow.intents], "languages": editor.languages, "guess": guesses}


def table_rows(name: str, data: dict[str, Any]) -> tuple[Sequence[str], Iterable[Sequence[Any]]]:
    """One table of the page as a header and rows (what its CSV export holds)."""
    f = data["figures"]
    match name:
        case "outcomes":
            return ("outcome", "calls"), f["outcomes"].items()
        case "transfer_reasons":
            return ("reason", "calls"), f["transfer_reasons"].items()
        case "handoff_results":
            return ("result", "calls"), f["handoff_results"].items()
        case "states":
            return ("state", "passed", "ended_here_unresolved", "to_agent_from_here"), (
                (s, r["passed"], r["dropped"], r["handed_over"]) for s, r in f["states"].items()
            )
        case "understanding":
            return ("state", "answers", "no_match", "no_input", "keypad", "speech"), (
                (s, u["inputs"], u["no_match"], u["no_input"], u["keypad"], u["speech"])
                for s, u in f["understanding"].items()
            )
        case "misheard":
            return ("state", "words", "calls"), (
                (s, m["words"], m["calls"]) for s, found in f["misheard"].items() for m in found
            )
        case "paths":
            return ("path", "calls", "answered", "average_seconds_to_answer"), (
                (p["path"], p["calls"], p["answered"], p["answer_seconds"]) for p in f["paths"]
            )
        case "volume":
            return ("day", "inbound", "outbound"), (
                (d["day"], d.get("inbound", 0), d.get("outbound", 0)) for d in f["volume"]["per_day"]
            )
        case "volume_hours":
            hours: dict[str, dict[str, int]] = {}
            for h in f["volume"]["per_hour"]:
                hours.setdefault(h["hour"], {})[h["direction"]] = h["calls"]
            return ("hour", "inbound", "outbound"), (
                (hour, n.get("inbound", 0), n.get("outbound", 0)) for hour, n in hours.items()
            )
        case "satisfaction":
            sat = f["satisfaction"]
            return ("score", "answers"), (sat["distribution"].items() if sat else ())
        case _:
            comparison = data["comparison"]
            if comparison is None:
                return ("version", "calls", "contained", "transferred", "abandoned"), ()
            return ("version", "calls", "contained", "containment_rate", "transferred", "abandoned"), (
                (n, s["calls"], s["contained"], s["containment_rate"], s["transferred"], s["abandoned"])
                for n, s in comparison["versions"].items()
            )


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _cell(value: Any) -> str:
    """A CSV cell that a spreadsheet will not run as a formula (callers' words are in it), its
    control characters shown as escapes (`\\x1b`): ESC sequences in a cell drive the terminal
    of whoever looks at the file with `cat`, and NUL or BEL break the tools that read it."""
    text = "" if value is None else _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(value))
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


async def export_csv(request: web.Request) -> web.Response:
    require(request, Role.SUPERVISOR)
    name = request.match_info["table"]
    if name not in TABLES:
        raise web.HTTPNotFound(text="No such table.\n")
    view = View(request)
    header, rows = table_rows(name, await _gather(request.app[INSIGHTS], view))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows([_cell(v) for v in row] for row in rows)
    filename = f"insights-{name}-{view.since}-{view.until}.csv"
    return web.Response(
        text=out.getvalue(),
        content_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def setup_insights(console: web.Application, insights: Insights) -> None:
    console[INSIGHTS] = insights
    if (CHARTJS / "chart.umd.min.js").is_file():
        console.router.add_static("/vendor/chartjs", CHARTJS)
    else:
        log.warning(
            "chartjs_missing: %s not found; the insights page shows tables only. Run scripts/setup.", CHARTJS
        )
    console.router.add_get("/insights", insights_page)
    console.router.add_get("/insights/export/{table}.csv", export_csv)
