"""The front door a new user opens first: `/`, the favicon, the docs, and a 403 page a person
can act on. Over real HTTP against the real app."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from ivr.store.accounts import Role
from ivr.testing.demo_line import TODAY, make_settings
from ivr.web.app import create_app
from tests.console import add_account, console_client, sign_in


@pytest.fixture
async def line(aiohttp_client: Callable, tmp_path: Path) -> TestClient:
    client = await console_client(aiohttp_client, create_app(make_settings(tmp_path), today=lambda: TODAY))
    await add_account(client.app, "alex", Role.AGENT, phone="+15550100200", skills=["en"])
    return client


async def test_the_root_links_the_console_and_every_doc_it_names(line: TestClient) -> None:
    response = await line.get("/")
    assert response.status == 200
    page = await response.text()
    assert 'href="/console/agent"' in page
    assert "Dev phones" not in page, "no sandbox here, so no dev phones to offer"
    links = re.findall(r'href="(/docs/[^"]+)"', page)
    assert "/docs/README.md" in links and "/docs/sandbox.md" in links
    for link in links:
        doc = await line.get(link)
        assert doc.status == 200, link
        assert doc.content_type == "text/plain"
        assert (await doc.text()).startswith("#"), link
    assert (await line.get("/docs/..%2Fpyproject.toml")).status == 404


async def test_the_favicon_is_an_icon(line: TestClient) -> None:
    response = await line.get("/favicon.ico")
    assert response.status == 200
    assert response.content_type == "image/svg+xml"
    assert (await response.text()).startswith("<svg")


async def test_a_page_not_for_your_role_says_why_and_where_to_go(line: TestClient) -> None:
    assert await sign_in(line, "alex")
    response = await line.get("/console/accounts", headers={"Accept": "text/html"})
    assert response.status == 403
    page = await response.text()
    assert response.content_type == "text/html"
    assert "This needs the admin role." in page
    assert "signed in as <b>alex</b> (agent)" in page
    assert 'href="/console/"' in page
    plain = await line.get("/console/accounts", headers={"Accept": "application/json"})
    assert plain.status == 403 and plain.content_type == "text/plain", "scripts still get the short answer"
