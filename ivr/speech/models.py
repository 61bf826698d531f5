"""Download and install Vosk speech models: what ``ivr speech install-model LANG`` does.

Vosk publishes an index of its models (``model-list.json``: language, name,
zip URL, MD5, size, type, obsolete flag). Installing one is::

    install_model                      index server / model host
      | -- GET model-list.json ------------> |
      | <- [{"lang", "name", "url", "md5", ...}, ...]
      |  choose: language, not obsolete, small first (or big), newest version
      |  already in dest_dir/<name>? done, nothing downloaded
      | -- GET <name>.zip -----------------> |
      | <- bytes, streamed to dest_dir/.vosk-install-*/ (progress, MD5 as they arrive)
      |  MD5 matches? zip entries all inside the folder? looks like a Vosk model?
      |  rename into dest_dir/<name> (atomic: a model is either complete or absent)

Everything temporary lives in one hidden folder inside ``dest_dir`` (so the
final rename never crosses file systems) that is removed whatever happens:
a failed or interrupted install leaves nothing that looks like a model.
The layout check (:func:`model_problem`) is the line's one answer to "is there a
usable model here?": the installer, the recogniser (:mod:`ivr.speech.vosk_asr`), the
start-up check and the voicemail transcriber all ask it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import shutil
import stat
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path, PurePosixPath
from typing import IO, Any, TextIO

import aiohttp
from yarl import URL

from ivr.speech.asr import RecognitionError, RecognitionErrorCode

log = logging.getLogger(__name__)

OFFICIAL_INDEX = "https://alphacephei.com/vosk/models/model-list.json"
"""Where Vosk lists its models."""

LANGUAGE_ALIASES = {"en": "en-us", "zh": "cn", "vi": "vn", "kk": "kz", "el": "el-gr", "tl": "tl-ph"}
"""ISO 639-1 codes (what ``IVR_LANGUAGE`` holds) whose Vosk index code is something else."""

SPEECH_MODEL_TYPES = ("small", "big", "big-lgraph")
"""Index ``type`` values of speech recognition models (it also lists speaker and punctuation models)."""

REQUIRED_FILES = ("am/final.mdl",)
"""Files every Vosk recognition model has: the acoustic model."""

REQUIRED_DIRS = ("conf",)
"""Folders every Vosk recognition model has: feature and decoder configuration."""

CHUNK_BYTES = 1 << 20
"""Largest piece of the download read, hashed and written at once."""

INDEX_TIMEOUT = aiohttp.ClientTimeout(total=60, sock_connect=20)
"""The index is small: a slow answer means something is wrong."""

DOWNLOAD_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=120)
"""Big models take many minutes; only a stalled connection is an error."""

_TEMP_PREFIX = ".vosk-install-"
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")
_VERSION = re.compile(r"(\d+(?:\.\d+)+)")


class ModelInstallErrorCode(StrEnum):
    """Stable codes for logs and the command line; never reword them."""

    INDEX_UNAVAILABLE = "model_index_unavailable"
    """The index could not be fetched (network error, HTTP error, timeout)."""
    INDEX_INVALID = "model_index_invalid"
    """The index is not the JSON list of models it should be."""
    UNKNOWN_LANGUAGE = "model_unknown_language"
    """The index has no current speech model for the language."""
    DOWNLOAD_FAILED = "model_download_failed"
    """The model archive could not be downloaded in full."""
    CHECKSUM_MISMATCH = "model_checksum_mismatch"
    """The archive's MD5 is not the one the index gives: corrupt or tampered with."""
    ARCHIVE_UNSAFE = "model_archive_unsafe"
    """The archive has entries that would land outside its folder (``../x``, ``/x``, links)."""
    ARCHIVE_INVALID = "model_archive_invalid"
    """The archive is not a readable zip, or does not hold a Vosk model."""
    INSTALL_FAILED = "model_install_failed"
    """The model could not be written into place (permissions, disk space, a stray folder)."""


class ModelInstallError(Exception):
    """Installing a model failed; ``code`` is a stable :class:`ModelInstallErrorCode` value."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code = code
        """Stable machine-readable reason, e.g. ``"model_checksum_mismatch"``."""
        self.detail = detail
        """Human-readable explanation for the terminal; may change between versions."""


@dataclass(frozen=True)
class ModelEntry:
    """One installable speech model from the index."""

    lang: str
    """Vosk's language code, e.g. ``"en-us"``, ``"de"``, ``"ko"``."""
    name: str
    """Folder name inside the zip and under the destination, e.g. ``"vosk-model-small-en-us-0.15"``."""
    url: str
    """Absolute URL of the zip archive."""
    md5: str
    """Lower-case hex MD5 of the zip archive."""
    size: int
    """Archive size in bytes as the index states it; 0 if it does not."""
    type: str
    """``"small"``, ``"big"`` or ``"big-lgraph"``."""
    version: tuple[int, ...]
    """Release version for picking the newest, e.g. ``(0, 22)``; ``()`` if unknown."""
    obsolete: bool
    """Vosk marks superseded models obsolete; they are never chosen."""

    @classmethod
    def from_index(cls, item: object, index_url: str) -> ModelEntry | None:
        """Read one index item; ``None`` if it is not an installable speech model or is malformed.

        The name becomes a folder name, so anything that is not a plain file
        name is refused: a hostile index must not write outside ``dest_dir``.
        """
        if not isinstance(item, dict):
            return None
        lang, name, url, md5, kind = (_text(item, key) for key in ("lang", "name", "url", "md5", "type"))
        if not (lang and name and url and md5 and kind):
            return None
        if kind not in SPEECH_MODEL_TYPES or not _SAFE_NAME.match(name) or ".." in name:
            return None
        if not re.fullmatch(r"[0-9a-fA-F]{32}", md5):
            return None
        version_text = item.get("version")
        match = _VERSION.search(version_text if isinstance(version_text, str) else name)
        return cls(
            lang=lang.lower(),
            name=name,
            url=str(URL(index_url).join(URL(url))),
            md5=md5.lower(),
            size=_to_int(item.get("size")),
            type=kind,
            version=tuple(int(part) for part in match.group(1).split(".")) if match else (),
            obsolete=str(item.get("obsolete", "false")).lower() == "true",
        )


def _text(item: dict[str, Any], key: str) -> str:
    """A string field of an index item; ``""`` if absent or not a string."""
    value = item.get(key)
    return value if isinstance(value, str) else ""


def _to_int(value: object) -> int:
    """The index gives sizes as numbers or strings; anything else is unknown (0)."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return max(0, value)
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return 0


def parse_index(data: object, index_url: str = OFFICIAL_INDEX) -> list[ModelEntry]:
    """Turn the decoded ``model-list.json`` into entries, skipping what cannot be installed."""
    if not isinstance(data, list):
        raise ModelInstallError(
            ModelInstallErrorCode.INDEX_INVALID, f"{index_url} is not a JSON list of models"
        )
    entries = [entry for item in data if (entry := ModelEntry.from_index(item, index_url)) is not None]
    if data and not entries:
        raise ModelInstallError(
            ModelInstallErrorCode.INDEX_INVALID, f"{index_url} lists no speech model this program understands"
        )
    return entries


def choose_model(entries: Iterable[ModelEntry], lang: str, *, small: bool = True) -> ModelEntry:
    """Pick the model to install for ``lang``: current, preferred size, newest.

    ``lang`` matches the index code exactly (``"en-in"``), through
    :data:`LANGUAGE_ALIASES` (``"en"`` is ``"en-us"``), or else by its first
    part (``"ar"`` finds ``"ar-tn"``).
    """
    current = [entry for entry in entries if not entry.obsolete]
    wanted = lang.strip().lower().replace("_", "-")
    matches: list[ModelEntry] = []
    for code in (wanted, LANGUAGE_ALIASES.get(wanted)):
        matches = [entry for entry in current if entry.lang == code]
        if matches:
            break
    else:
        matches = [entry for entry in current if entry.lang.split("-")[0] == wanted]
    if not matches:
        available = ", ".join(sorted({entry.lang for entry in current})) or "none"
        raise ModelInstallError(
            ModelInstallErrorCode.UNKNOWN_LANGUAGE,
            f"no Vosk speech model for language '{lang}'; available languages: {available}",
        )
    order = SPEECH_MODEL_TYPES if small else ("big", "big-lgraph", "small")
    return min(matches, key=lambda entry: (order.index(entry.type), _negated(entry.version)))


def _negated(version: tuple[int, ...]) -> tuple[int, ...]:
    """Sort key that puts the highest version first under ``min``."""
    return tuple(-part for part in version)


def model_problem(model_dir: Path) -> RecognitionError | None:
    """Say why ``model_dir`` is not a usable Vosk model, or ``None`` if it looks like one.

    Only the parts every Vosk recognition model has are checked, so that a
    missing, half-copied or wrong folder is caught before Kaldi spends seconds
    failing on it (or worse, loading something else). The answer carries the
    stable code (``asr_model_missing`` or ``asr_model_invalid``) that logs and
    the recogniser report; raising it is up to the caller.
    """
    if not model_dir.is_dir():
        return RecognitionError(RecognitionErrorCode.MODEL_MISSING, f"no Vosk model at {model_dir}")
    missing = [name for name in REQUIRED_FILES if not (model_dir / name).is_file()]
    missing += [f"{name}/" for name in REQUIRED_DIRS if not (model_dir / name).is_dir()]
    if missing:
        return RecognitionError(
            RecognitionErrorCode.MODEL_INVALID,
            f"{model_dir} is not a Vosk model (missing {', '.join(missing)})",
        )
    return None


async def install_model(
    lang: str,
    dest_dir: Path,
    *,
    index_url: str = OFFICIAL_INDEX,
    small: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Install the Vosk model for ``lang`` into ``dest_dir/<name>`` and return that path.

    If it is already there, nothing is downloaded. ``progress(done, total)``
    is called as bytes arrive (``total`` is 0 when unknown). Raises
    :class:`ModelInstallError`; on any failure ``dest_dir`` is left as it was.
    """
    async with aiohttp.ClientSession(timeout=DOWNLOAD_TIMEOUT) as session:
        entries = parse_index(await _fetch_index(session, index_url), index_url)
        entry = choose_model(entries, lang, small=small)
        target = dest_dir / entry.name
        if await asyncio.to_thread(model_problem, target) is None:
            log.info("model_already_installed: %s", target)
            return target
        workdir = await asyncio.to_thread(_prepare, dest_dir, target)
        try:
            archive = workdir / "model.zip"
            await _download(session, entry, archive, progress)
            await asyncio.to_thread(_unpack_and_place, archive, workdir / "unpacked", target)
        finally:
            await asyncio.to_thread(shutil.rmtree, workdir, True)
    log.info("model_installed: %s (%s, %s)", target, entry.lang, entry.type)
    return target


def install_local_model(source: Path, dest_dir: Path, name: str) -> Path:
    """Install a model from a local zip archive or directory (no network needed) as
    ``dest_dir/<name>`` and return that path; checked exactly as a download is.

    For lines whose language model cannot be downloaded where they run: copy the archive
    there by hand. Raises :class:`ModelInstallError`; on failure ``dest_dir`` is as it was.
    """
    target = dest_dir / name
    if source.is_dir():
        problem = model_problem(source)
        if problem is not None:
            raise ModelInstallError(ModelInstallErrorCode.ARCHIVE_INVALID, problem.detail)
    elif not source.is_file():
        raise ModelInstallError(ModelInstallErrorCode.INSTALL_FAILED, f"no archive or directory at {source}")
    if model_problem(target) is None:
        log.info("model_already_installed: %s", target)
        return target
    workdir = _prepare(dest_dir, target)
    try:
        if source.is_dir():
            shutil.copytree(source, workdir / "copy", symlinks=False)
            (workdir / "copy").rename(target)
        else:
            _unpack_and_place(source, workdir / "unpacked", target)
    except OSError as exc:
        raise ModelInstallError(
            ModelInstallErrorCode.INSTALL_FAILED, f"cannot install {source}: {exc}"
        ) from exc
    finally:
        shutil.rmtree(workdir, True)
    log.info("model_installed: %s (from %s)", target, source)
    return target


async def _fetch_index(session: aiohttp.ClientSession, index_url: str) -> object:
    """GET and decode the index."""
    try:
        async with session.get(index_url, timeout=INDEX_TIMEOUT) as response:
            if response.status != 200:
                raise ModelInstallError(
                    ModelInstallErrorCode.INDEX_UNAVAILABLE,
                    f"{index_url} answered HTTP {response.status} {response.reason or ''}".rstrip(),
                )
            return await response.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise ModelInstallError(
            ModelInstallErrorCode.INDEX_UNAVAILABLE,
            f"cannot fetch the model index {index_url}: {exc or type(exc).__name__} (check the network, "
            "or download a model from https://alphacephei.com/vosk/models and set IVR_VOSK_MODEL)",
        ) from exc
    except ValueError as exc:
        raise ModelInstallError(
            ModelInstallErrorCode.INDEX_INVALID, f"{index_url} is not valid JSON: {exc}"
        ) from exc


def _prepare(dest_dir: Path, target: Path) -> Path:
    """Create ``dest_dir`` and a private work folder in it; refuse to overwrite a stray ``target``."""
    problem = model_problem(target)
    if problem is not None and target.exists():
        raise ModelInstallError(
            ModelInstallErrorCode.INSTALL_FAILED,
            f"{target} exists but is not a complete Vosk model ({problem.detail}); "
            "remove it and run the command again",
        )
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=_TEMP_PREFIX, dir=dest_dir))
    except OSError as exc:
        raise ModelInstallError(
            ModelInstallErrorCode.INSTALL_FAILED, f"cannot write to {dest_dir}: {exc}"
        ) from exc


async def _download(
    session: aiohttp.ClientSession,
    entry: ModelEntry,
    archive: Path,
    progress: Callable[[int, int], None] | None,
) -> None:
    """Stream the zip to ``archive``, hashing as it arrives, and check the MD5."""
    digest = hashlib.md5(usedforsecurity=False)  # an integrity check against the index, not security
    done = 0
    expected: int | None = None
    try:
        async with session.get(entry.url) as response:
            if response.status != 200:
                raise ModelInstallError(
                    ModelInstallErrorCode.DOWNLOAD_FAILED,
                    f"{entry.url} answered HTTP {response.status} {response.reason or ''}".rstrip(),
                )
            expected = response.content_length
            total = expected or entry.size
            if progress is not None:
                progress(0, total)
            handle = await asyncio.to_thread(archive.open, "wb")
            try:
                async for chunk in response.content.iter_chunked(CHUNK_BYTES):
                    await asyncio.to_thread(_write_chunk, handle, digest, chunk)
                    done += len(chunk)
                    if progress is not None:
                        progress(done, max(total, done))
            finally:
                await asyncio.to_thread(handle.close)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise ModelInstallError(
            ModelInstallErrorCode.DOWNLOAD_FAILED,
            f"downloading {entry.url} failed after {done} bytes: {exc or type(exc).__name__}",
        ) from exc
    except OSError as exc:
        raise ModelInstallError(
            ModelInstallErrorCode.INSTALL_FAILED, f"cannot write {archive}: {exc}"
        ) from exc
    if expected is not None and done != expected:
        raise ModelInstallError(
            ModelInstallErrorCode.DOWNLOAD_FAILED, f"{entry.url} ended after {done} of {expected} bytes"
        )
    if digest.hexdigest() != entry.md5:
        raise ModelInstallError(
            ModelInstallErrorCode.CHECKSUM_MISMATCH,
            f"{entry.url} has MD5 {digest.hexdigest()}, the index says {entry.md5}: "
            "the download is corrupt or was altered; nothing was installed",
        )


def _write_chunk(handle: IO[bytes], digest: Any, chunk: bytes) -> None:
    """Hash and write one piece of the download; runs in a thread."""
    digest.update(chunk)
    handle.write(chunk)


def unsafe_member(name: str, mode: int = 0) -> str | None:
    """Say why a zip entry must not be extracted, or ``None`` if it is harmless.

    ``zipfile`` would quietly rewrite ``../x`` and ``/x`` into the target
    folder, but an archive containing them was not made by Vosk's tools and
    is refused outright, as are symbolic links (which could point anywhere).
    """
    normalised = name.replace("\\", "/")
    path = PurePosixPath(normalised)
    if normalised.startswith("/") or re.match(r"^[A-Za-z]:", normalised):
        return f"absolute path {name!r}"
    if ".." in path.parts:
        return f"path {name!r} leaves the archive's folder"
    if stat.S_ISLNK(mode):
        return f"symbolic link {name!r}"
    return None


def _unpack_and_place(archive: Path, into: Path, target: Path) -> None:
    """Check and extract the archive, find the model in it, and rename it to ``target``."""
    try:
        with zipfile.ZipFile(archive) as bundle:
            members = bundle.infolist()
            for member in members:
                reason = unsafe_member(member.filename, member.external_attr >> 16)
                if reason is not None:
                    raise ModelInstallError(
                        ModelInstallErrorCode.ARCHIVE_UNSAFE, f"refusing to unpack {archive.name}: {reason}"
                    )
            needed = sum(member.file_size for member in members)
            free = shutil.disk_usage(archive.parent).free
            if needed > free:
                raise ModelInstallError(
                    ModelInstallErrorCode.INSTALL_FAILED,
                    f"the model needs {needed / 1e6:.0f} MB unpacked but only {free / 1e6:.0f} MB are free",
                )
            bundle.extractall(into)
    except zipfile.BadZipFile as exc:
        raise ModelInstallError(ModelInstallErrorCode.ARCHIVE_INVALID, f"not a readable zip: {exc}") from exc
    except OSError as exc:
        raise ModelInstallError(
            ModelInstallErrorCode.INSTALL_FAILED, f"cannot unpack the model: {exc}"
        ) from exc
    root = _model_root(into)
    try:
        os.rename(root, target)
    except OSError as exc:
        if model_problem(target) is None:  # another install of the same model finished first
            return
        raise ModelInstallError(
            ModelInstallErrorCode.INSTALL_FAILED, f"cannot move the model to {target}: {exc}"
        ) from exc


def _model_root(into: Path) -> Path:
    """The model folder in an unpacked archive: the archive's top folder (Vosk's layout) or its root."""
    folders = sorted(path for path in into.iterdir() if path.is_dir())
    candidates: Sequence[Path] = [into, *folders] if len(folders) != 1 else [folders[0], into]
    reasons: list[str] = []
    for candidate in candidates:
        problem = model_problem(candidate)
        if problem is None:
            return candidate
        reasons.append(problem.detail)
    raise ModelInstallError(
        ModelInstallErrorCode.ARCHIVE_INVALID,
        f"the archive does not hold a Vosk model ({'; '.join(reasons)})",
    )


def text_progress_bar(stream: TextIO | None = None, width: int = 30) -> Callable[[int, int], None]:
    """Return a ``progress(done, total)`` that draws one self-overwriting line on ``stream``.

    ``stream`` defaults to ``sys.stderr`` (so piping the command's output
    stays clean). It redraws only when the shown value changes, because a
    fast download reports thousands of chunks, and ends the line at 100 %.
    """
    out = stream if stream is not None else sys.stderr
    last: list[object] = [None]

    def draw(done: int, total: int) -> None:
        if total > 0:
            fraction = min(1.0, done / total)
            percent = int(fraction * 100)
            if last[0] == percent:
                return
            last[0] = percent
            filled = int(fraction * width)
            bar = "#" * filled + "-" * (width - filled)
            line = f"\r[{bar}] {percent:3d}%  {done / 1e6:.1f}/{total / 1e6:.1f} MB"
            out.write(line + ("\n" if done >= total else ""))
        else:
            shown = round(done / 1e6, 1)
            if last[0] == shown:
                return
            last[0] = shown
            out.write(f"\r{shown:.1f} MB")
        out.flush()

    return draw
