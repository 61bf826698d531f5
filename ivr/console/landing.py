"""The server's front door: `/` says what runs here and links the console, the dev phones and
the docs; `/favicon.ico` is the console's icon; `/docs/…` serves the project's own docs.

A new user following the README opens http://127.0.0.1:8080/ first. A bare `404: Not Found`
there reads as a broken install, so the root answers with a page of where to go next. It is
public and says nothing a caller's data could leak into: links only, and whether this server
runs on the sandbox (then no real calls are made, which a visitor should know at once).

The docs are the Markdown files of the checkout the server runs from, served as plain text so
they read without a renderer and without the network; an installed package without them links
nowhere rather than to a 404.
"""

from __future__ import annotations

import re
from pathlib import Path

from aiohttp import web

from ivr.console.web import HERE, SECURITY_HEADERS, TEMPLATES

REPOSITORY = HERE.parent.parent
"""The checkout `ivr` runs from (its README.md and docs/ sit beside the package)."""
_DOC_NAME = re.compile(r"[a-z][a-z0-9_-]*\.md")
FAVICON = HERE / "static" / "favicon.svg"


def doc_files(root: Path = REPOSITORY) -> dict[str, Path]:
    """The docs a visitor may read, by URL name: README.md and docs/*.md, nothing else."""
    files = {"README.md": root / "README.md"} if (root / "README.md").is_file() else {}
    docs = root / "docs"
    if docs.is_dir():
        files.update({p.name: p for p in sorted(docs.glob("*.md")) if _DOC_NAME.fullmatch(p.name)})
    return files


def setup_landing(app: web.Application, console: web.Application, *, sandbox: bool) -> None:
    """Add `/`, `/favicon.ico` and `/docs/{name}` to the line's own app (outside `/console`)."""
    docs = doc_files()

    async def landing(request: web.Request) -> web.Response:
        page = (
            console[TEMPLATES]
            .get_template("landing.html")
            .render(
                me=None,
                csrf_token="",
                path=request.path,
                sandbox=sandbox,
                docs=list(docs),
                here=f"{request.scheme}://{request.host}",  # the terminal phone's --url: this server
            )
        )
        return web.Response(text=page, content_type="text/html", headers=SECURITY_HEADERS)

    async def favicon(_: web.Request) -> web.FileResponse:
        return web.FileResponse(
            FAVICON, headers={"Content-Type": "image/svg+xml", "Cache-Control": "public, max-age=86400"}
        )

    async def doc(request: web.Request) -> web.StreamResponse:
        path = docs.get(request.match_info["name"])
        if path is None:
            raise web.HTTPNotFound(text="There is no such page in the docs.\n")
        return web.FileResponse(
            path, headers={"Content-Type": "text/plain; charset=utf-8", **SECURITY_HEADERS}
        )

    app.router.add_get("/", landing)
    app.router.add_get("/favicon.ico", favicon)
    app.router.add_get("/docs/{name}", doc)
