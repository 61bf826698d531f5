"""The web console's frame: sign-in, roles, CSRF, security headers, templates.

Mounted at `/console` as an aiohttp sub-application. Pages for agents (`agent_desk`),
supervisors (`flow_editor`) and admins (`accounts` pages here) register their routes on
it and call `require` first thing; nothing in the console is public but the sign-in page.

- Sessions: a random token in an `HttpOnly`, `SameSite=Strict` cookie (`Secure` whenever
  PUBLIC_URL is https), looked up in the database on each request, so every instance
  behind a load balancer knows every session.
- CSRF: every state-changing request must carry the session's token, as the form field
  `csrf_token` or the `X-CSRF-Token` header (the pages' script sends it), and, when the
  browser says where it comes from, an `Origin` of this site. The sign-in form has no
  session yet, so its cookie starts one of its own (a random id) and the form's token is an
  HMAC of that id and the time it was issued (`login_token`): a token and cookie someone made
  up, or planted in the browser from a sibling site, do not match without the server's key.
- Sign-in attempts are limited per account from one address and per address
  (`accounts.MAX_FAILURES`), counted in the database before the password is checked, so
  attempts sent at once or to different instances share one count. Past the limit attempts
  are slowed down, never locked out, and never per account alone: a stranger's guesses
  must not keep an account's holder out. The holder hears of them instead, on their next
  sign-in, and the audit log has them. Behind a reverse proxy the address is the client's
  from `X-Forwarded-For`, believed only from IVR_TRUSTED_PROXIES (`client_address`).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jinja2
from aiohttp import web

from ivr.bodies import read_form
from ivr.forwarded import IPNetwork
from ivr.forwarded import client_address as forwarded_client
from ivr.store.accounts import LANGUAGES, MAX_FAILURES, AccountError, AccountStore, Role, SignedIn
from ivr.store.audit import AuditLog

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
ACCOUNTS = web.AppKey("accounts", AccountStore)
AUDIT = web.AppKey("audit", AuditLog)
TEMPLATES = web.AppKey("templates", jinja2.Environment)
SECURE_COOKIES = web.AppKey("secure_cookies", bool)
LOGIN_SECRET = web.AppKey("login_secret", bytes)
"""The key the sign-in form's token is signed with (the same on every instance)."""
LOGIN_TOKEN_LIFE = 3600
"""A sign-in form older than this is refused (reloading it gives a fresh one)."""
TRUSTED_PROXIES: web.AppKey[tuple[IPNetwork, ...]] = web.AppKey("trusted_proxies")
"""Reverse proxies whose `X-Forwarded-For` names the client (IVR_TRUSTED_PROXIES)."""
SIGNED_IN: web.RequestKey[SignedIn | None] = web.RequestKey("signed_in")
"""`request[SIGNED_IN]`: who made this request, or None."""
SESSION_COOKIE = "ivr_console"
LOGIN_COOKIE = "ivr_login_csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
HOME = {Role.AGENT: "/console/agent", Role.SUPERVISOR: "/console/flows", Role.ADMIN: "/console/accounts"}
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; media-src 'self'; style-src 'self';"
        " script-src 'self'; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def require(request: web.Request, role: Role) -> SignedIn:
    """The signed-in person, if their role allows `role`.

    Anonymous: a page view is sent to sign in; anything else gets 403. Signed in without
    the role: 403. Either way nothing has been changed.
    """
    signed_in: SignedIn | None = request.get(SIGNED_IN)
    if signed_in is None:
        accept = request.headers.get("Accept", "")
        if request.method in SAFE_METHODS and not any(t in accept for t in ("json", "event-stream")):
            raise web.HTTPSeeOther(f"/console/login?next={request.path}")
        raise web.HTTPForbidden(text="Sign in first.\n")
    if not signed_in.account.role.allows(role):
        log.warning(
            "console_forbidden: %s (%s) tried %s %s",
            signed_in.account.username,
            signed_in.account.role,
            request.method,
            request.path,
        )
        raise web.HTTPForbidden(text=f"This needs the {role} role.\n")
    return signed_in


def render(request: web.Request, template: str, *, status: int = 200, **context: Any) -> web.Response:
    signed_in: SignedIn | None = request.get(SIGNED_IN)
    page = (
        request.app[TEMPLATES]
        .get_template(template)
        .render(
            me=signed_in.account if signed_in else None,
            csrf_token=signed_in.csrf_token if signed_in else "",
            path=request.path,
            **context,
        )
    )
    return web.Response(text=page, content_type="text/html", status=status)


def see_other(location: str) -> web.Response:
    """The redirect after a form post (a returned response, so cookies set on it are kept)."""
    return web.Response(status=303, headers={"Location": location})


def _same_origin(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    if origin is None or origin == "null":
        return origin is None
    return urlsplit(origin).netloc == request.host


async def _csrf_ok(request: web.Request, expected: str) -> bool:
    sent = request.headers.get("X-CSRF-Token")
    if sent is None and request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        field = (await read_form(request)).get("csrf_token")
        sent = field if isinstance(field, str) else None
    return sent is not None and hmac.compare_digest(sent, expected) and _same_origin(request)


@web.middleware
async def console_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    token = request.cookies.get(SESSION_COOKIE)
    signed_in = await request.app[ACCOUNTS].session(token) if token else None
    request[SIGNED_IN] = signed_in
    if request.method not in SAFE_METHODS and request.path != "/console/login":
        if signed_in is None:
            raise web.HTTPForbidden(text="Sign in first.\n")
        if not await _csrf_ok(request, signed_in.csrf_token):
            log.warning(
                "csrf_rejected: %s %s by %s", request.method, request.path, signed_in.account.username
            )
            raise web.HTTPForbidden(
                text="The form is out of date or was not sent by this console. Reload it.\n"
            )
    try:
        response = await handler(request)
    except web.HTTPForbidden as exc:
        if request.method not in SAFE_METHODS or "text/html" not in request.headers.get("Accept", ""):
            exc.headers.update(SECURITY_HEADERS)
            raise
        # A person at a browser gets a page that says why and where to go, not a bare line.
        response = render(request, "forbidden.html", status=403, reason=(exc.text or "").strip())
    except web.HTTPException as exc:
        exc.headers.update(SECURITY_HEADERS)
        raise
    if not isinstance(response, web.WebSocketResponse) and not request.path.startswith("/console/static/"):
        response.headers.update(SECURITY_HEADERS)
    return response


def client_address(request: web.Request) -> str:
    """The address of whoever sent this request, for per-address limits and logs."""
    forwarded = request.headers.getall("X-Forwarded-For", ())
    return forwarded_client(request.remote, forwarded, request.app[TRUSTED_PROXIES])


def _next_path(raw: str, role: Role) -> str:
    """Where to go after signing in: only a path on this site, else the role's home page.

    A path starts with one `/` (`//host` and `/\\host` are other sites to a browser) and
    is printable ASCII: a control character, CR/LF above all, cannot go into a header.
    """
    printable = all("!" <= ch <= "~" for ch in raw)
    if printable and raw.startswith("/") and not raw.startswith("//") and "\\" not in raw:
        return raw
    return HOME[role]


def login_secret(auth_token: str) -> bytes:
    """The sign-in form's key, from the one secret every instance already shares."""
    return hashlib.sha256(b"console-login-csrf\0" + auth_token.encode()).digest()


def login_token(secret: bytes, session_id: str, issued: int) -> str:
    """The sign-in form's token for the pre-sign-in session `session_id`: when it was issued,
    and an HMAC binding that time to the session."""
    mac = hmac.new(secret, f"login-csrf\0{session_id}\0{issued}".encode(), hashlib.sha256).hexdigest()
    return f"{issued}.{mac}"


def _login_token_ok(request: web.Request, session_id: str, sent: str) -> bool:
    issued, _, _ = sent.partition(".")
    if not session_id or not issued.isascii() or not issued.isdigit() or len(issued) > 12:
        return False
    if not 0 <= time.time() - int(issued) <= LOGIN_TOKEN_LIFE:
        return False
    expected = login_token(request.app[LOGIN_SECRET], session_id, int(issued))
    return hmac.compare_digest(expected.encode(), sent.encode())


async def login_page(request: web.Request) -> web.Response:
    session_id = secrets.token_urlsafe(24)
    token = login_token(request.app[LOGIN_SECRET], session_id, int(time.time()))
    response = render(request, "login.html", login_csrf=token, next=request.query.get("next", ""), error="")
    _set_cookie(request, response, LOGIN_COOKIE, session_id, max_age=LOGIN_TOKEN_LIFE)
    return response


async def login(request: web.Request) -> web.Response:
    form = await read_form(request)
    username = str(form.get("username", "")).strip().lower()
    password = str(form.get("password", ""))
    next_raw = str(form.get("next", ""))
    sent = str(form.get("login_csrf", ""))
    if not _login_token_ok(request, request.cookies.get(LOGIN_COOKIE, ""), sent) or not _same_origin(request):
        raise web.HTTPForbidden(text="The sign-in form is out of date. Reload it.\n")

    def again(status: int, error: str) -> web.Response:
        """The sign-in form once more, with what went wrong."""
        return render(request, "login.html", status=status, login_csrf=sent, next=next_raw, error=error)

    if not username.isprintable():
        # No account has such a name, and PostgreSQL refuses text with NUL in it.
        return again(400, "That username and password do not match an active account.")
    accounts = request.app[ACCOUNTS]
    address = client_address(request)
    keys = [f"user:{username}@{_counted_as(address)}", f"ip:{_counted_as(address)}"]
    # The attempt is counted before the password is checked, and stays counted if it fails.
    wait = await accounts.reserve_attempt(keys)
    if wait > 0:
        log.warning("login_slowed: %s from %s", username, address)
        return again(429, f"Too many failed sign-ins. Try again in {_in_about(wait)}.")
    account = await accounts.authenticate(username, password)
    if account is None:
        log.warning("login_failed: %s from %s", username, address)
        failures = await accounts.note_failure(username, address)
        if failures and failures % MAX_FAILURES["user"] == 0:
            await request.app[AUDIT].record(
                "anonymous",
                "login.failures",
                username,
                f"{failures} failed sign-ins since the last one, the latest from {address}",
            )
        return again(401, "That username and password do not match an active account.")
    await accounts.release_attempt(keys)
    # Where to go is settled before the session exists: nothing is created for an answer
    # that could not be sent.
    next_path = _next_path(next_raw, account.role)
    failed = await accounts.take_failures(account.username)
    if failed is None:
        response = see_other(next_path)
    else:
        # The holder hears what strangers tried, before going on: only they can tell if it was them.
        response = render(
            request,
            "sign_in_notice.html",
            failed=failed,
            last_at=datetime.fromtimestamp(failed.last_at, UTC).strftime("%Y-%m-%d %H:%M UTC"),
            next=next_path,
        )
    token, _ = await accounts.start_session(account.username)
    log.info("login: %s from %s", account.username, address)
    _set_cookie(request, response, SESSION_COOKIE, token)
    response.del_cookie(LOGIN_COOKIE, path="/console")
    return response


def _counted_as(address: str) -> str:
    """Whose attempts these are, for the sign-in limits: an IPv6 client is its /64 (one
    household or server has all of it, so each of its addresses is no new guesser)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def _in_about(seconds: float) -> str:
    if seconds < 90:
        return f"about {max(1, round(seconds))} seconds"
    return f"about {round(seconds / 60)} minutes"


async def logout(request: web.Request) -> web.Response:
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        await request.app[ACCOUNTS].end_session(token)
    response = see_other("/console/login")
    response.del_cookie(SESSION_COOKIE, path="/console")
    return response


async def home(request: web.Request) -> web.Response:
    signed_in = require(request, Role.AGENT)
    raise web.HTTPSeeOther(HOME[signed_in.account.role])


def _set_cookie(
    request: web.Request, response: web.StreamResponse, name: str, value: str, *, max_age: int | None = None
) -> None:
    response.set_cookie(
        name,
        value,
        path="/console",
        httponly=True,
        samesite="Strict",
        secure=request.app[SECURE_COOKIES],
        max_age=max_age,
    )


async def accounts_page(request: web.Request) -> web.Response:
    require(request, Role.ADMIN)
    return await _accounts_view(request)


async def _accounts_view(request: web.Request, *, error: str = "", status: int = 200) -> web.Response:
    accounts = await request.app[ACCOUNTS].list()
    audit = await request.app[AUDIT].recent(20)
    return render(
        request,
        "accounts.html",
        accounts=accounts,
        roles=list(Role),
        languages=LANGUAGES,
        audit=audit,
        error=error,
        status=status,
    )


def _skills(text: str) -> list[str]:
    return [s.strip().lower() for s in text.replace(";", ",").split(",") if s.strip()]


async def account_create(request: web.Request) -> web.Response:
    admin = require(request, Role.ADMIN)
    form = await read_form(request)
    try:
        role = Role(str(form.get("role", "")))
        account = await request.app[ACCOUNTS].create(
            str(form.get("username", "")).strip().lower(),
            str(form.get("password", "")),
            role,
            display_name=str(form.get("display_name", "")).strip(),
            phone=str(form.get("phone", "")).strip(),
            skills=_skills(str(form.get("skills", ""))),
            language=str(form.get("language", "en")),
        )
    except (AccountError, ValueError) as exc:
        return await _accounts_view(request, error=f"Not created: {exc}.", status=400)
    await request.app[AUDIT].record(admin.account.username, "account.create", account.username, role.value)
    raise web.HTTPSeeOther("/console/accounts")


async def account_update(request: web.Request) -> web.Response:
    admin = require(request, Role.ADMIN)
    username = request.match_info["username"]
    form = await read_form(request)
    accounts = request.app[ACCOUNTS]
    try:
        role = Role(str(form.get("role", "")))
        disabled = form.get("disabled") == "on"
        language = str(form["language"]) if "language" in form else None
        if username == admin.account.username and (disabled or role is not Role.ADMIN):
            raise AccountError("you cannot disable or demote your own account")
        await accounts.update(
            username,
            role=role,
            display_name=str(form.get("display_name", "")).strip(),
            phone=str(form.get("phone", "")).strip(),
            skills=_skills(str(form.get("skills", ""))),
            disabled=disabled,
            language=language,
        )
        if password := str(form.get("password", "")):
            await accounts.set_password(username, password)
    except (AccountError, ValueError) as exc:
        return await _accounts_view(request, error=f"Not changed: {exc}.", status=400)
    detail = f"role={role.value} disabled={disabled}" + (f" language={language}" if language else "")
    detail += " password reset" if form.get("password") else ""
    await request.app[AUDIT].record(admin.account.username, "account.update", username, detail)
    raise web.HTTPSeeOther("/console/accounts")


def create_console(
    accounts: AccountStore,
    audit: AuditLog,
    *,
    secure_cookies: bool,
    login_secret: bytes,
    trusted_proxies: Sequence[IPNetwork] = (),
) -> web.Application:
    """The console sub-application; mount it at `/console` and add the desks' routes to it."""
    app = web.Application(middlewares=[console_middleware])
    app[LOGIN_SECRET] = login_secret
    app[ACCOUNTS] = accounts
    app[AUDIT] = audit
    app[SECURE_COOKIES] = secure_cookies
    app[TRUSTED_PROXIES] = tuple(trusted_proxies)
    app[TEMPLATES] = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    app.router.add_get("/login", login_page)
    app.router.add_post("/login", login)
    app.router.add_post("/logout", logout)
    app.router.add_get("/", home)
    app.router.add_get("/accounts", accounts_page)
    app.router.add_post("/accounts", account_create)
    app.router.add_post("/accounts/{username}", account_update)
    app.router.add_static("/static", HERE / "static")
    return app
