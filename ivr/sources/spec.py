"""A sources file: which kinds of record come from HTTP, and how, read and checked (pure).

The file (IVR_SOURCES, docs/sources.md) is written once by a developer of the company, so
every mistake must be reported with its file, line and reason before the line takes a call:
this module turns the YAML (`ivr.yamlsource`, which remembers lines) into frozen specs and
raises `SourceError` for the first problem. Kinds the file does not name stay `local` (the
tables `ivr import` fills), so the demo runs with no file and no outside system.

Mapping a response into a record lives here too (`map_record`): it is pure, so the same
code answers calls, `ivr sources test` and the tests. A value the line cannot say (a status
missing from the values table, a date it cannot read) is a `MappingError`: the lookup counts
as failed and the caller hears the honest sentence, never a wrong status.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from ivr.records import Order, OrderStatus, Repair, RepairStatus, Warranty, WarrantyPlan
from ivr.sources.paths import JsonPath, PathError, parse_path
from ivr.yamlsource import Document, Path_, load_file, load_text

KINDS = ("orders", "repairs", "warranties", "customers")
"""The kinds of record a source can serve; `customers` is the caller-ID lookup (orders and
repairs filed under the caller's phone number)."""
Record = Order | Repair | Warranty
FieldType = Literal["text", "date", "choice"]

_ORDER_FIELDS: dict[str, FieldType] = {
    "order_number": "text",
    "phone": "text",
    "customer_name": "text",
    "postal_code": "text",
    "status": "choice",
    "carrier": "text",
    "tracking_number": "text",
    "placed_on": "date",
    "ship_date": "date",
    "eta": "date",
    "language": "text",
}
_REPAIR_FIELDS: dict[str, FieldType] = {
    "ticket_number": "text",
    "serial_number": "text",
    "phone": "text",
    "product": "text",
    "status": "choice",
    "updated_on": "date",
    "eta": "date",
}
_WARRANTY_FIELDS: dict[str, FieldType] = {
    "serial_number": "text",
    "order_number": "text",
    "product": "text",
    "purchased_on": "date",
    "expires_on": "date",
    "plan": "choice",
}
RECORD_FIELDS: Mapping[str, Mapping[str, FieldType]] = {
    "orders": _ORDER_FIELDS,
    "repairs": _REPAIR_FIELDS,
    "warranties": _WARRANTY_FIELDS,
}
REQUIRED = {
    "orders": ("order_number", "status"),
    "repairs": ("ticket_number", "status"),
    "warranties": ("serial_number", "plan"),
}
CHOICES: Mapping[str, frozenset[str]] = {
    "orders": frozenset(s.value for s in OrderStatus),
    "repairs": frozenset(s.value for s in RepairStatus),
    "warranties": frozenset(p.value for p in WarrantyPlan),
}
KEYS = {
    "orders": "order_number",
    "repairs": "ticket_number",
    "warranties": "serial_number",
    "customers": "phone",
}
"""The value each kind is looked up by: the one placeholder its URL template must use."""

DEFAULT_TIMEOUT = 2.0
"""Seconds a lookup may take, retries included: well inside Twilio's 15 s, short for a caller."""
DEFAULT_CACHE = 300.0
"""Seconds an answer is kept for the call that asked (a caller asking twice asks once)."""
DEFAULT_FAILURES = 5
"""Failed lookups in a row that open the breaker."""
DEFAULT_OPEN_FOR = 30.0
"""Seconds an open breaker answers "unavailable" at once before one lookup tries again."""
MAX_TIMEOUT = 10.0
MAX_PAGES = 10
_PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}")
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_TOP = {"base_url", "auth", "headers", "timeout", "cache", "retries", "breaker", *KINDS}
_KIND_KEYS = {
    "request",
    "record",
    "records",
    "fields",
    "base_url",
    "auth",
    "headers",
    "timeout",
    "cache",
    "retries",
    "breaker",
}
_CUSTOMER_KEYS = {
    "orders",
    "repairs",
    "base_url",
    "auth",
    "headers",
    "timeout",
    "cache",
    "retries",
    "breaker",
}


class MappingError(ValueError):
    """A response the declared mapping cannot turn into a record the line can say.

    `field` is safe to log; the message may quote the source's value, so only `ivr sources
    test` (an operator at a terminal) shows it."""

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(f"{field}: {detail}")
        self.field = field


@dataclass(frozen=True, slots=True)
class Auth:
    """How requests prove who sends them; secrets are named by environment variable, never written."""

    kind: Literal["none", "bearer", "basic", "header", "hmac"] = "none"
    env: tuple[str, ...] = ()
    """The variables holding the secret(s): bearer/header/hmac one, basic the user and password."""
    header: str = ""
    """`header`: the header carrying the token; `hmac`: the header carrying the signature."""


@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP request of a lookup; `let` names values of its answer for the next request."""

    method: str
    url: str
    """A template: `{order_number}` and earlier `let` names, filled URL-encoded."""
    body: Any = None
    """JSON sent with a POST (strings are templates too); None: no body."""
    let: Mapping[str, JsonPath] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FieldRule:
    """How one of the line's fields is read from the record's JSON."""

    name: str
    type: FieldType
    paths: tuple[JsonPath, ...]
    """Tried in order: the first that gives a value wins (or, with `join`, all are joined)."""
    join: bool = False
    values: Mapping[str, str] | None = None
    """The system's value → the line's (`fulfilled` → `shipped`); None: taken as it is."""
    default: str = ""


@dataclass(frozen=True, slots=True)
class Lookup:
    """An HTTP lookup of one kind: its requests, where the record is, and the field rules."""

    name: str
    """`orders`, `repairs`, `warranties`, `customers.orders` or `customers.repairs`."""
    record_kind: str
    """The records it returns: `orders`, `repairs` or `warranties`."""
    requests: tuple[Request, ...]
    select: JsonPath
    """Where the record is in the last answer (`$` the whole); with `[*]` several records."""
    fields: tuple[FieldRule, ...]
    base_url: str
    auth: Auth
    headers: Mapping[str, str]
    timeout: float
    retries: int
    failures: int
    open_for: float
    cache: float
    pages: int = 1
    """Pages of a list followed through `Link: <…>; rel="next"` (Shopify, WooCommerce send it)."""

    @property
    def many(self) -> bool:
        return self.select.many


@dataclass(frozen=True, slots=True)
class SourcesSpec:
    source: str
    lookups: Mapping[str, Lookup]
    """By name; a kind not here is `local`."""

    def kind(self, name: str) -> str:
        """`http` or `local`, as `ivr sources check` reports each kind."""
        return "http" if any(key.split(".")[0] == name for key in self.lookups) else "local"

    def env_needed(self) -> list[str]:
        """Every environment variable the file names (for secrets and `${...}` in URLs)."""
        names: list[str] = []
        for lookup in self.lookups.values():
            names += [n for n in lookup.auth.env if n not in names]
        return names


def load_sources(path: Path) -> SourcesSpec:
    return parse_sources(load_file(path))


def parse_sources_text(text: str, source: str = "<sources>") -> SourcesSpec:
    return parse_sources(load_text(text, source))


def parse_sources(doc: Document) -> SourcesSpec:
    """The file's specs; `SourceError` (file, line, reason) for the first thing that cannot work.

    `${NAME}` in a `base_url` is left for `expand_env` at start-up, so the file can be checked
    on a machine without the company's variables."""
    data = doc.data
    if not isinstance(data, dict):
        raise doc.error((), "a sources file is a mapping: base_url, auth, and a section per kind")
    _known(doc, (), data, _TOP)
    shared = _settings(doc, (), data, {})
    lookups: dict[str, Lookup] = {}
    for kind in KINDS:
        raw = data.get(kind)
        if raw is None or raw == "local":
            continue
        if not isinstance(raw, dict):
            raise doc.error((kind,), f"'{kind}' must be 'local' or a mapping (request, record, fields)")
        settings = _settings(doc, (kind,), raw, shared)
        if kind == "customers":
            _known(doc, (kind,), raw, _CUSTOMER_KEYS)
            for sub in ("orders", "repairs"):
                if raw.get(sub) is not None:
                    section = data.get(sub)
                    inherit: dict[str, Any] = section if isinstance(section, dict) else {}
                    lookups[f"customers.{sub}"] = _lookup(
                        doc, (kind, sub), f"customers.{sub}", sub, raw[sub], settings, inherit
                    )
            if not any(k.startswith("customers.") for k in lookups):
                raise doc.error((kind,), "'customers' needs 'orders' or 'repairs' (requests by phone number)")
        else:
            _known(doc, (kind,), raw, _KIND_KEYS)
            lookups[kind] = _lookup(doc, (kind,), kind, kind, raw, settings, {})
    return SourcesSpec(doc.source, lookups)


def _known(doc: Document, path: Path_, raw: dict[str, Any], allowed: set[str]) -> None:
    for key in raw:
        if key not in allowed:
            raise doc.error(
                (*path, key), f"unknown key '{key}'; expected one of {', '.join(sorted(allowed))}"
            )


def _settings(doc: Document, path: Path_, raw: dict[str, Any], inherited: dict[str, Any]) -> dict[str, Any]:
    """base_url, auth, headers, timeout, retries, breaker, cache: the section's own, else the file's."""
    out = dict(inherited)
    if "base_url" in raw:
        base = raw["base_url"]
        if not isinstance(base, str) or not base.strip():
            raise doc.error((*path, "base_url"), "'base_url' must be a URL such as https://shop.example.com")
        if not _ENV.search(base) and urlsplit(base).scheme not in ("http", "https"):
            raise doc.error(
                (*path, "base_url"), f"'base_url' must start with https:// (or http://), not '{base}'"
            )
        out["base_url"] = base.rstrip("/")
    if "auth" in raw:
        out["auth"] = _auth(doc, (*path, "auth"), raw["auth"])
    if "headers" in raw:
        headers = raw["headers"]
        if not isinstance(headers, dict) or not all(isinstance(v, str | int) for v in headers.values()):
            raise doc.error((*path, "headers"), "'headers' must map header names to text")
        out["headers"] = {**out.get("headers", {}), **{k: str(v) for k, v in headers.items()}}
    if "timeout" in raw:
        out["timeout"] = _number(doc, (*path, "timeout"), raw["timeout"], 0.1, MAX_TIMEOUT)
    if "cache" in raw:
        out["cache"] = _number(doc, (*path, "cache"), raw["cache"], 0, 3600)
    if "retries" in raw:
        out["retries"] = int(_number(doc, (*path, "retries"), raw["retries"], 0, 3))
    if "breaker" in raw:
        breaker = raw["breaker"]
        if not isinstance(breaker, dict):
            raise doc.error((*path, "breaker"), "'breaker' must be a mapping: failures, open_for")
        _known(doc, (*path, "breaker"), breaker, {"failures", "open_for"})
        if "failures" in breaker:
            out["failures"] = int(_number(doc, (*path, "breaker", "failures"), breaker["failures"], 1, 100))
        if "open_for" in breaker:
            out["open_for"] = _number(doc, (*path, "breaker", "open_for"), breaker["open_for"], 1, 3600)
    return out


def _number(doc: Document, path: Path_, value: Any, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise doc.error(path, f"'{path[-1]}' must be a number from {low:g} to {high:g}, not {value!r}")
    return float(value)


def _auth(doc: Document, path: Path_, raw: Any) -> Auth:
    if not isinstance(raw, dict) or len(raw.keys() - {"header"}) != 1:
        raise doc.error(
            path,
            "'auth' must be one of {bearer: ENV}, {basic: {user: ENV, password: ENV}}, "
            "{header: Name, token: ENV} or {hmac: ENV, header: Name}",
        )

    def env(value: Any, where: Path_) -> str:
        if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
            raise doc.error(where, f"name the environment variable that holds the secret, not {value!r}")
        return value

    header = raw.get("header", "")
    if header and not (isinstance(header, str) and re.fullmatch(r"[A-Za-z0-9-]+", header)):
        raise doc.error((*path, "header"), f"'{header}' is not a header name")
    if "bearer" in raw:
        return Auth("bearer", (env(raw["bearer"], (*path, "bearer")),))
    if "basic" in raw:
        basic = raw["basic"]
        if not isinstance(basic, dict) or set(basic) != {"user", "password"}:
            raise doc.error((*path, "basic"), "'basic' must be {user: ENV, password: ENV}")
        return Auth(
            "basic",
            (
                env(basic["user"], (*path, "basic", "user")),
                env(basic["password"], (*path, "basic", "password")),
            ),
        )
    if "token" in raw:
        if not header:
            raise doc.error(path, "a token auth needs 'header': the header that carries it")
        return Auth("header", (env(raw["token"], (*path, "token")),), header)
    if "hmac" in raw:
        return Auth("hmac", (env(raw["hmac"], (*path, "hmac")),), header or "X-Signature")
    raise doc.error(path, f"unknown auth '{next(iter(raw))}'; use bearer, basic, token (with header) or hmac")


def _path(doc: Document, where: Path_, value: Any) -> JsonPath:
    if not isinstance(value, str):
        raise doc.error(where, f"expected an expression such as $.order.status, not {value!r}")
    try:
        return parse_path(value)
    except PathError as exc:
        raise doc.error(where, str(exc)) from None


def _lookup(
    doc: Document,
    path: Path_,
    name: str,
    record_kind: str,
    raw: Any,
    settings: dict[str, Any],
    inherit: dict[str, Any],
) -> Lookup:
    if not isinstance(raw, dict):
        raise doc.error(path, f"'{name}' must be a mapping (request, records, fields)")
    if name.startswith("customers."):
        _known(doc, path, raw, {"request", "records", "fields", "pages"})
    if "base_url" not in settings:
        raise doc.error(path, "no 'base_url' for this source (give one at the top of the file or here)")
    key = KEYS["customers" if name.startswith("customers.") else record_kind]
    requests = _requests(doc, (*path, "request"), raw.get("request"), key)
    many = name.startswith("customers.")
    select_key = "records" if many else "record"
    wrong = "record" if many else "records"
    if wrong in raw:
        raise doc.error(
            (*path, wrong), f"use '{select_key}' here: this lookup gives {'a list' if many else 'one record'}"
        )
    select = _path(doc, (*path, select_key), raw.get(select_key, "$"))
    if many != select.many:
        message = "needs [*]: a caller may have several" if many else "must select one record (no [*])"
        raise doc.error((*path, select_key), f"'{select_key}' {message}")
    fields_raw = raw.get("fields", inherit.get("fields"))
    if not isinstance(fields_raw, dict):
        raise doc.error(
            (*path, "fields"),
            f"'fields' must map the line's fields ({', '.join(RECORD_FIELDS[record_kind])}) to expressions",
        )
    fields = _fields(doc, (*path, "fields"), record_kind, fields_raw)
    pages = int(_number(doc, (*path, "pages"), raw["pages"], 1, MAX_PAGES)) if "pages" in raw else 1
    return Lookup(
        name,
        record_kind,
        requests,
        select,
        fields,
        settings["base_url"],
        settings.get("auth", Auth()),
        settings.get("headers", {}),
        settings.get("timeout", DEFAULT_TIMEOUT),
        settings.get("retries", 1),
        settings.get("failures", DEFAULT_FAILURES),
        settings.get("open_for", DEFAULT_OPEN_FOR),
        settings.get("cache", DEFAULT_CACHE),
        pages,
    )


def _requests(doc: Document, path: Path_, raw: Any, key: str) -> tuple[Request, ...]:
    items = raw if isinstance(raw, list) else [raw]
    if raw is None or not items:
        raise doc.error(path, f"'request' is missing: give at least its url, with {{{key}}}")
    known = {key}
    out: list[Request] = []
    for index, item in enumerate(items):
        where: Path_ = (*path, index) if isinstance(raw, list) else path
        if isinstance(item, str):
            item = {"url": item}
        if not isinstance(item, dict):
            raise doc.error(where, "a request is a url, or a mapping: url, method, body, let")
        _known(doc, where, item, {"url", "method", "body", "let"})
        url = item.get("url")
        if not isinstance(url, str) or not url:
            raise doc.error(where, "a request needs 'url' (a path after base_url, or a whole URL)")
        method = str(item.get("method", "GET")).upper()
        if method not in ("GET", "POST"):
            raise doc.error((*where, "method"), f"method must be GET or POST, not '{method}'")
        used = set(_PLACEHOLDER.findall(url)) | set(_PLACEHOLDER.findall(str(item.get("body", ""))))
        unknown = sorted(used - known)
        if unknown:
            raise doc.error(
                where,
                f"unknown placeholder {{{unknown[0]}}}; this request can use "
                + ", ".join("{" + k + "}" for k in sorted(known)),
            )
        if index == 0 and key not in used:
            raise doc.error(where, f"the first request must use {{{key}}}: it is what the lookup is for")
        lets_raw = item.get("let", {})
        if not isinstance(lets_raw, dict):
            raise doc.error((*where, "let"), "'let' must map names to expressions of this answer")
        lets = {n: _path(doc, (*where, "let", n), v) for n, v in lets_raw.items()}
        known |= set(lets)
        out.append(Request(method, url, item.get("body"), lets))
    return tuple(out)


def _fields(doc: Document, path: Path_, kind: str, raw: dict[str, Any]) -> tuple[FieldRule, ...]:
    types = RECORD_FIELDS[kind]
    _known(doc, path, raw, set(types))
    for required in REQUIRED[kind]:
        if required not in raw:
            raise doc.error(path, f"'{required}' is required: the line cannot answer without it")
    rules: list[FieldRule] = []
    for name, spec in raw.items():
        where = (*path, name)
        ftype = types[name]
        join, values, default = False, None, ""
        if isinstance(spec, dict):
            _known(doc, where, spec, {"from", "join", "values", "default"})
            if ("from" in spec) == ("join" in spec):
                raise doc.error(
                    where, "give either 'from' (first value found) or 'join' (all, joined by a space)"
                )
            join = "join" in spec
            exprs = spec["join"] if join else spec["from"]
            if "values" in spec:
                table = spec["values"]
                if not isinstance(table, dict):
                    raise doc.error((*where, "values"), "'values' must map the system's values to the line's")
                values = {_text(k): str(v) for k, v in table.items()}
            default = str(spec.get("default", "") if spec.get("default") is not None else "")
        else:
            exprs = spec
        paths = tuple(
            _path(doc, (*where, i) if isinstance(exprs, list) else where, e)
            for i, e in enumerate(exprs if isinstance(exprs, list) else [exprs])
        )
        if ftype == "choice":
            allowed = CHOICES[kind]
            for said in [*(values or {}).values(), *([default] if default else [])]:
                if said not in allowed:
                    raise doc.error(
                        where, f"'{said}' is not a {name} the line knows: {', '.join(sorted(allowed))}"
                    )
        rules.append(FieldRule(name, ftype, paths, join, values, default))
    return tuple(rules)


def expand_env(text: str, env: Mapping[str, str] | None = None) -> str:
    """`${NAME}` replaced by the variable's value; `KeyError` names a missing one."""
    env = os.environ if env is None else env

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if not env.get(name):
            raise KeyError(name)
        return env[name].rstrip("/")

    return _ENV.sub(value, text)


def base_env(spec: SourcesSpec) -> list[str]:
    """The variables named by `${...}` in base URLs."""
    return sorted({n for lookup in spec.lookups.values() for n in _ENV.findall(lookup.base_url)})


def _text(value: Any, name: str = "value") -> str:
    """A JSON value as the line's text: None → "", 1001 → "1001", 2.0 → "2", true → "true"."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dict | list):
        raise MappingError(name, "the expression selects an object or list where a value is expected")
    return str(value).strip()


def _date(name: str, value: str) -> date | None:
    if not value:
        return None
    if value.isdigit() and len(value) >= 9:  # a Unix time (WooCommerce Shipment Tracking's dates)
        return datetime.fromtimestamp(int(value), UTC).date()
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        raise MappingError(name, f"'{value[:10]}' is not a date (YYYY-MM-DD…)") from None


def field_values(lookup: Lookup, item: Any) -> dict[str, str]:
    """The line's fields of one record's JSON, as text, before they are typed."""
    out: dict[str, str] = {}
    for rule in lookup.fields:
        if rule.join:
            value = " ".join(t for p in rule.paths if (t := _text(p.first(item), rule.name)))
        else:
            value = next((t for p in rule.paths if (t := _text(p.first(item), rule.name))), "")
        if rule.values is not None and value:
            if value not in rule.values:
                if rule.type == "choice":
                    raise MappingError(rule.name, f"'{value}' is not in the values table")
            else:
                value = rule.values[value]
        out[rule.name] = value or rule.default
    return out


def map_record(lookup: Lookup, item: Any) -> Record:
    """One record's JSON → the line's record; `MappingError` when it cannot be said truly."""
    values = field_values(lookup, item)
    kind = lookup.record_kind
    for required in REQUIRED[kind]:
        if not values.get(required):
            raise MappingError(required, "no value in the response")
    try:
        if kind == "orders":
            return Order(
                order_number=values["order_number"],
                phone=values.get("phone", "").replace(" ", "").replace("-", ""),
                customer_name=values.get("customer_name", ""),
                postal_code=values.get("postal_code", ""),
                status=OrderStatus(values["status"]),
                carrier=values.get("carrier", ""),
                tracking_number=values.get("tracking_number", ""),
                placed_on=_date("placed_on", values.get("placed_on", "")),
                ship_date=_date("ship_date", values.get("ship_date", "")),
                eta=_date("eta", values.get("eta", "")),
                language=values.get("language", ""),
            )
        if kind == "repairs":
            return Repair(
                ticket_number=values["ticket_number"],
                serial_number=values.get("serial_number", ""),
                phone=values.get("phone", "").replace(" ", "").replace("-", ""),
                product=values.get("product", ""),
                status=RepairStatus(values["status"]),
                updated_on=_date("updated_on", values.get("updated_on", "")),
                eta=_date("eta", values.get("eta", "")),
            )
        return Warranty(
            serial_number=values["serial_number"],
            order_number=values.get("order_number", ""),
            product=values.get("product", ""),
            purchased_on=_date("purchased_on", values.get("purchased_on", "")),
            expires_on=_date("expires_on", values.get("expires_on", "")),
            plan=WarrantyPlan(values["plan"]),
        )
    except ValueError as exc:  # a status or plan outside the line's (no values table given)
        if isinstance(exc, MappingError):
            raise
        raise MappingError("status" if kind != "warranties" else "plan", str(exc)) from None
