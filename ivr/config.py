"""Typed settings from the environment, checked once at start-up.

A setting that cannot work stops the server before it takes a call, with a message
naming the variable; nothing falls back silently to an insecure default.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from ivr.events import EventType

REPAIR_OPTIONS = ("pickup", "dropoff", "visit")
"""Every way a booked repair can reach a technician (`ivr.store.repair_bookings.RepairOption`)."""


class ConfigError(ValueError):
    """A setting that cannot work; the message names the setting."""


_REPO = Path(__file__).resolve().parent.parent
_ACCOUNT_SID = re.compile(r"AC[0-9a-f]{32}")
_E164 = re.compile(r"\+[1-9]\d{6,14}")


class TtsMode(StrEnum):
    SAY = "say"
    """Twilio's `<Say>` voices speak the prompts."""
    LOCAL = "local"
    """Prompts are synthesised here with pyttsx3 / espeak-ng and played with `<Play>`."""


class SpeechMode(StrEnum):
    TWILIO = "twilio"
    """Twilio's `<Gather input="dtmf speech">` recognises speech."""
    LOCAL = "local"
    """Calls run over a media stream: Vosk listens and pyttsx3 speaks, on this server."""


class TelephonyMode(StrEnum):
    TWILIO = "twilio"
    """Calls the line places or moves go through Twilio's REST API (TWILIO_ACCOUNT_SID…)."""
    SANDBOX = "sandbox"
    """The sandbox telephone network in this process: sandbox phones, no real calls."""


SANDBOX_ACCOUNT_SID = "AC" + "5e" * 16
"""The sandbox's own account SID (a fixed, obviously fake one)."""
SANDBOX_NUMBER = "+15550001000"
"""The line's number in the sandbox, unless TWILIO_PHONE_NUMBER names another."""

MAX_RING = 600
"""Twilio rings an outbound call for at most this many seconds (its `Timeout` limit)."""


def default_dir(name: str) -> Path:
    """`./flows` when run from a checkout or a deployment folder, else the packaged copy."""
    here = Path.cwd() / name
    return here if here.is_dir() else _REPO / name


def database_url(env: Mapping[str, str] | None = None) -> str:
    """IVR_DATABASE_URL, or a SQLite file in IVR_DATA_DIR (default ./var)."""
    env = os.environ if env is None else env
    return env.get("IVR_DATABASE_URL") or f"sqlite:///{Path(env.get('IVR_DATA_DIR', 'var')) / 'ivr.db'}"


@dataclass(frozen=True, slots=True)
class Settings:
    auth_token: str
    public_url: str
    database_url: str
    tts: TtsMode
    flow_file: Path
    prompts_dir: Path
    language: str
    """The default language: the first of IVR_LANGUAGES (a call nothing else decides speaks it)."""
    agent_number: str
    agent_queue: str
    audio_dir: Path
    tts_voice: str
    tts_rate: int
    speech: SpeechMode
    vosk_model: Path
    """Vosk model directory for the line's language (`ivr speech install-model LANG` makes one)."""
    models_dir: Path
    session_url: str
    """`redis://…` to keep live call state in Redis (several instances); empty: the database."""
    account_sid: str
    """Twilio account (`AC…`) for calls the line places or redirects itself; empty: none."""
    phone_number: str
    """The line's own Twilio number: the caller ID of the calls it places."""
    api_base: str
    """Twilio's REST API; another base for a proxy, or for the local fake the tests run."""
    hours_file: Path | None = None
    """Business hours YAML (`hours:` with timezone, weekly, holidays); None: always open."""
    markets_dir: Path | None = None
    """IVR_MARKETS: a folder of market files (`ivr.markets`), each number's hours, places, prices
    and rights; None: one line for every number (IVR_HOURS, IVR_PICKUP_LOCATION)."""
    time_zone: ZoneInfo | None = None
    """IVR_TIME_ZONE: the line's time zone (its days and hours in the insights) when it has no
    business hours; with IVR_HOURS it must name the hours' own zone. None: the hours' zone, else UTC."""
    callback_offer_after: float = 300.0
    """Estimated wait (seconds) past which a queued caller may press 1 to be called back."""
    max_queue_wait: float = 900.0
    """Seconds a caller waits with no agent available before being offered a callback or voicemail."""
    callback_attempts: int = 3
    callback_backoff: float = 300.0
    """Seconds before retrying a callback the customer did not answer; doubles each attempt."""
    agent_ring_seconds: int = 20
    """How long an agent's phone rings with a caller's whisper before it counts as missed."""
    callback_ring_seconds: int = 30
    """How long a customer's phone rings for their callback before the attempt counts as failed."""
    voicemail_dir: Path = Path("var/voicemail")
    """Where fetched voicemail recordings are kept."""
    trusted_proxies: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    """Reverse proxies (addresses or networks) whose `X-Forwarded-For` names the client; empty:
    the address a request comes from is the client's."""
    test_phone_numbers: frozenset[str] = frozenset()
    """Caller IDs (E.164) the console's test phone may call as and read records of, besides
    fictional numbers such as the demo data's (`ivr.console.test_phone.FICTIONAL`)."""
    model_index: str = ""
    """Where `ivr speech install-model` looks models up (IVR_VOSK_MODEL_INDEX); empty: Vosk's own list."""
    campaigns_dir: Path = Path("campaigns")
    """Outbound campaigns (`campaigns/*.yaml`, IVR_CAMPAIGNS); a missing directory: none."""
    guides_dir: Path = Path("guides")
    """Troubleshooting guides (`guides/*.yaml`, IVR_GUIDES); a missing directory: none."""
    review_url: str = ""
    """IVR_REVIEW_URL: the link texted to happy customers who accept; empty: no review texts."""
    review_urls: Mapping[str, str] = field(default_factory=dict)
    """IVR_REVIEW_URL_<LANG>: a served language's own review link (a customer texted in German
    gets the German page); a language without one gets IVR_REVIEW_URL."""
    inbound_survey: bool = False
    """IVR_INBOUND_SURVEY=on: a call the line resolved itself ends with one question (1 to 5)."""
    campaign_round: float = 60.0
    """IVR_CAMPAIGN_ROUND: seconds between scheduling rounds in `ivr serve`; 0: none (cron + run-once)."""
    sweep_after: float = 12_600.0
    """IVR_SWEEP_AFTER: seconds a call may go unwritten before it is filed as ended (its final
    status callback was lost: a store down at call end, and Twilio retries none). Below the 4
    hours after which Redis forgets an unwritten live call, and Twilio's longest call."""
    pickup_location: str = ""
    """Where repairs are picked up, as said to callers ("our service centre at 200 Main Street")."""
    pickup_days: int = 14
    """Days a ready repair is kept for pickup, counted from its `updated_on`."""
    sources_file: Path | None = None
    """IVR_SOURCES: the sources file naming the kinds of record read over HTTP (docs/sources.md);
    None: every lookup reads the local tables `ivr import` fills."""
    sources_env: Mapping[str, str] = field(default_factory=dict, repr=False)
    """The environment the sources file's `${NAME}` URLs and secrets are read from (it holds
    secrets: never in the settings' repr)."""
    events_url: str = ""
    """IVR_EVENTS_URL: where the line POSTs its events (docs/events.md); "" for none."""
    events_urls: Mapping[str, str] = field(default_factory=dict)
    """IVR_EVENTS_URL_<TYPE>: a kind of event's own URL (`callback.requested` → its URL), instead
    of IVR_EVENTS_URL."""
    events_secret: str = field(default="", repr=False)
    """IVR_EVENTS_SECRET: the key events are signed with (HMAC-SHA256); required with any URL."""
    return_days: int = 30
    """IVR_RETURN_DAYS: days after delivery a product may be returned (the last one included)."""
    return_days_by_language: Mapping[str, int] = field(default_factory=dict)
    """IVR_RETURN_DAYS_<LANG>: a market's own window (the line's numbers are per language)."""
    repair_options: tuple[str, ...] = REPAIR_OPTIONS
    """IVR_REPAIR_OPTIONS: how a booked repair reaches a technician, as offered to callers
    (pickup from home, drop-off at the service point, a technician's visit), in that order."""
    telephony: TelephonyMode = TelephonyMode.TWILIO
    """IVR_TELEPHONY: Twilio, or the sandbox telephone network (`ivr sandbox`)."""
    languages: tuple[str, ...] = ("en",)
    """Every language the line serves (IVR_LANGUAGES), the default first."""
    number_languages: Mapping[str, str] = field(default_factory=dict)
    """Called number (Twilio's `To`, E.164) → the language its calls speak (IVR_NUMBER_LANGUAGES)."""
    vosk_models: Mapping[str, Path] = field(default_factory=dict)
    """Each served language's Vosk model directory (IVR_VOSK_MODEL_<LANG>, else var/models/<lang>)."""
    tts_voices: Mapping[str, str] = field(default_factory=dict)
    """Each served language's espeak-ng voice for local synthesis (IVR_TTS_VOICE_<LANG>; for the
    default language also IVR_TTS_VOICE; else the language's own espeak-ng voice, `de`, `sv`)."""

    def tts_voice_for(self, language: str) -> str | None:
        """The espeak-ng voice `language` is synthesised with (None: pyttsx3's default)."""
        return self.tts_voices.get(language) or (
            self.tts_voice or None if language == self.language else language
        )

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, *, default_public_url: str = "", serving: bool = True
    ) -> Settings:
        """Read and check every setting. The operator's commands that answer no webhooks
        (`serving=False`: imports, reports, prompt rendering) run without TWILIO_AUTH_TOKEN."""
        env = os.environ if env is None else env
        token = env.get("TWILIO_AUTH_TOKEN", "").strip()
        if not token and serving:
            raise ConfigError(
                "TWILIO_AUTH_TOKEN is not set: it is needed to check that webhooks come from "
                "Twilio (find it in the Twilio console; any secret works with `ivr call`)"
            )
        public_url = (env.get("PUBLIC_URL") or default_public_url or "http://127.0.0.1:8080").rstrip("/")
        parts = urlsplit(public_url)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
            raise ConfigError(f"PUBLIC_URL '{public_url}' must be like https://support.example.com")
        try:
            parts.port  # noqa: B018 (parsing it is the check)
        except ValueError:
            raise ConfigError(
                f"PUBLIC_URL '{public_url}' has no valid port; an IPv6 address goes in brackets: http://[::1]:8080"
            ) from None
        try:
            tts = TtsMode(env.get("IVR_TTS", "say").strip().lower())
        except ValueError:
            raise ConfigError("IVR_TTS must be 'say' or 'local'") from None
        rate = env.get("IVR_TTS_RATE", "165")
        if not rate.isdigit() or not 80 <= int(rate) <= 400:
            raise ConfigError("IVR_TTS_RATE must be words per minute between 80 and 400")
        agent_number = env.get("IVR_AGENT_NUMBER", "").strip()
        if agent_number and not (agent_number.startswith(("+", "sip:", "client:"))):
            raise ConfigError("IVR_AGENT_NUMBER must be an E.164 number like +15551234567")
        data_dir = Path(env.get("IVR_DATA_DIR", "var"))
        try:
            speech = SpeechMode(env.get("IVR_SPEECH", "twilio").strip().lower())
        except ValueError:
            raise ConfigError("IVR_SPEECH must be 'twilio' or 'local'") from None
        languages = _languages(env)
        language = languages[0]
        number_languages = _number_languages(env, languages)
        account_sid = env.get("TWILIO_ACCOUNT_SID", "").strip()
        if account_sid and not _ACCOUNT_SID.fullmatch(account_sid):
            raise ConfigError(
                "TWILIO_ACCOUNT_SID must be 'AC' and 32 hex digits (Twilio console, Account Info)"
            )
        phone_number = env.get("TWILIO_PHONE_NUMBER", "").strip()
        if phone_number and not _E164.fullmatch(phone_number):
            raise ConfigError("TWILIO_PHONE_NUMBER must be the line's E.164 number like +15551234567")
        api_base = env.get("TWILIO_API_BASE", "https://api.twilio.com").strip().rstrip("/")
        api_parts = urlsplit(api_base)
        if api_parts.scheme not in ("http", "https") or not api_parts.netloc or api_parts.query:
            raise ConfigError(f"TWILIO_API_BASE '{api_base}' must be like https://api.twilio.com")
        try:
            telephony = TelephonyMode(env.get("IVR_TELEPHONY", "twilio").strip().lower())
        except ValueError:
            raise ConfigError("IVR_TELEPHONY must be 'twilio' or 'sandbox'") from None
        if telephony is TelephonyMode.SANDBOX:
            real = [name for name in ("TWILIO_ACCOUNT_SID", "TWILIO_API_BASE") if env.get(name, "").strip()]
            if real:
                raise ConfigError(
                    f"IVR_TELEPHONY=sandbox cannot run with a real Twilio account ({' and '.join(real)} "
                    "set): unset those to try the sandbox, or unset IVR_TELEPHONY to take real calls"
                )
            account_sid, phone_number = SANDBOX_ACCOUNT_SID, phone_number or SANDBOX_NUMBER
        models_dir = Path(env.get("IVR_MODELS_DIR", data_dir / "models"))
        sources_file = env.get("IVR_SOURCES", "").strip()
        if sources_file and not Path(sources_file).is_file():
            raise ConfigError(f"IVR_SOURCES '{sources_file}' is not a file (a sources YAML, docs/sources.md)")
        hours_file = env.get("IVR_HOURS", "").strip()
        if hours_file and not Path(hours_file).is_file():
            raise ConfigError(f"IVR_HOURS '{hours_file}' is not a file (a business hours YAML)")
        markets_dir = env.get("IVR_MARKETS", "").strip()
        if markets_dir and not Path(markets_dir).is_dir():
            raise ConfigError(f"IVR_MARKETS '{markets_dir}' is not a folder (of market YAML files)")
        if markets_dir and hours_file:
            raise ConfigError(
                "IVR_HOURS and IVR_MARKETS are both set: with markets, each market's file holds its "
                "hours (the default market's serve the desk and the insights); unset IVR_HOURS"
            )
        vosk_models = {code: _vosk_model(env, code, models_dir, code == language) for code in languages}
        events_url, events_urls, events_secret = _events(env)
        return cls(
            auth_token=token,
            public_url=public_url,
            database_url=database_url(env),
            tts=tts,
            flow_file=Path(env.get("IVR_FLOW", default_dir("flows") / "support.yaml")),
            prompts_dir=Path(env.get("IVR_PROMPTS", default_dir("prompts"))),
            language=language,
            agent_number=agent_number,
            agent_queue=env.get("IVR_AGENT_QUEUE", "support"),
            audio_dir=Path(env.get("IVR_AUDIO_CACHE", data_dir / "audio")),
            tts_voice=env.get("IVR_TTS_VOICE", ""),
            tts_rate=int(rate),
            speech=speech,
            vosk_model=vosk_models[language],
            models_dir=models_dir,
            session_url=env.get("IVR_SESSION_URL", "").strip(),
            account_sid=account_sid,
            phone_number=phone_number,
            api_base=api_base,
            hours_file=Path(hours_file) if hours_file else None,
            markets_dir=Path(markets_dir) if markets_dir else None,
            time_zone=_time_zone(env),
            callback_offer_after=_seconds(env, "IVR_CALLBACK_OFFER_AFTER", 300),
            max_queue_wait=_seconds(env, "IVR_MAX_QUEUE_WAIT", 900),
            sweep_after=_seconds(env, "IVR_SWEEP_AFTER", 12_600, minimum=1, maximum=MAX_SWEEP_AFTER),
            callback_attempts=int(_seconds(env, "IVR_CALLBACK_ATTEMPTS", 3, minimum=1)),
            callback_backoff=_seconds(env, "IVR_CALLBACK_BACKOFF", 300),
            agent_ring_seconds=int(_seconds(env, "IVR_AGENT_RING_SECONDS", 20, minimum=5, maximum=MAX_RING)),
            callback_ring_seconds=int(
                _seconds(env, "IVR_CALLBACK_RING_SECONDS", 30, minimum=5, maximum=MAX_RING)
            ),
            voicemail_dir=Path(env.get("IVR_VOICEMAIL_DIR", data_dir / "voicemail")),
            trusted_proxies=_networks(env, "IVR_TRUSTED_PROXIES"),
            test_phone_numbers=_numbers(env, "IVR_TEST_PHONE_NUMBERS"),
            model_index=env.get("IVR_VOSK_MODEL_INDEX", "").strip(),
            campaigns_dir=Path(env.get("IVR_CAMPAIGNS", default_dir("campaigns"))),
            guides_dir=Path(env.get("IVR_GUIDES", default_dir("guides"))),
            review_url=_review_url(env, "IVR_REVIEW_URL"),
            review_urls=_review_urls(env, languages),
            inbound_survey=_switch(env, "IVR_INBOUND_SURVEY"),
            campaign_round=_seconds(env, "IVR_CAMPAIGN_ROUND", 60),
            telephony=telephony,
            sources_file=Path(sources_file) if sources_file else None,
            sources_env=dict(env) if sources_file else {},
            events_url=events_url,
            events_urls=events_urls,
            events_secret=events_secret,
            pickup_location=" ".join(env.get("IVR_PICKUP_LOCATION", "").split()),
            pickup_days=int(_seconds(env, "IVR_PICKUP_DAYS", 14, minimum=1)),
            return_days=int(_seconds(env, "IVR_RETURN_DAYS", 30, minimum=0, maximum=3650)),
            return_days_by_language={
                code: int(_seconds(env, f"IVR_RETURN_DAYS_{code.upper()}", 30, minimum=0, maximum=3650))
                for code in languages
                if f"IVR_RETURN_DAYS_{code.upper()}" in env
            },
            repair_options=_repair_options(env),
            languages=languages,
            number_languages=number_languages,
            vosk_models=vosk_models,
            tts_voices={
                code: voice
                for code in languages
                if (voice := env.get(f"IVR_TTS_VOICE_{code.upper()}", "").strip())
            },
        )


def _repair_options(env: Mapping[str, str]) -> tuple[str, ...]:
    raw = env.get("IVR_REPAIR_OPTIONS", "").strip()
    if not raw:
        return REPAIR_OPTIONS
    chosen = tuple(dict.fromkeys(part.strip() for part in raw.split(",") if part.strip()))
    unknown = [part for part in chosen if part not in REPAIR_OPTIONS]
    if unknown or not chosen:
        raise ConfigError(
            f"IVR_REPAIR_OPTIONS must list some of {', '.join(REPAIR_OPTIONS)}, comma-separated"
            + (f" (not {', '.join(unknown)})" if unknown else "")
        )
    return chosen


NOT_ZONES = frozenset({"Factory", "localtime", "posixrules"})
"""Files in the time zone database that name no place: `localtime` is whatever the server's
clock is set to (another server, another zone), `Factory` the "-00" of an unset system."""


@functools.cache
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones()) - NOT_ZONES


def zone_named(name: str) -> ZoneInfo:
    """The IANA time zone called `name` (Europe/Berlin, UTC); `ValueError` for anything else,
    a path or one of `NOT_ZONES` included: `ZoneInfo` itself opens any file it is named."""
    if name not in _zone_names():
        raise ValueError(f"'{name}' is not a time zone name")
    return ZoneInfo(name)


def _time_zone(env: Mapping[str, str]) -> ZoneInfo | None:
    name = env.get("IVR_TIME_ZONE", "").strip()
    if not name:
        return None
    try:
        return zone_named(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"IVR_TIME_ZONE '{name}' is not a time zone name like Europe/Berlin or America/New_York"
        ) from None


def _review_url(env: Mapping[str, str], name: str, example: str = "https://example.com/review") -> str:
    url = env.get(name, "").strip()
    parts = urlsplit(url)
    if url and (parts.scheme not in ("http", "https") or not parts.netloc):
        raise ConfigError(f"{name} '{url}' must be a web address like {example}")
    return url


def _review_urls(env: Mapping[str, str], languages: tuple[str, ...]) -> dict[str, str]:
    """IVR_REVIEW_URL_DE, IVR_REVIEW_URL_SV...: one for a language the line does not serve is
    refused (a typo would otherwise send every German customer the default link, unnoticed)."""
    urls: dict[str, str] = {}
    for name in sorted(env):
        if not name.startswith("IVR_REVIEW_URL_") or not env[name].strip():
            continue
        code = name.removeprefix("IVR_REVIEW_URL_").lower()
        if code not in languages:
            raise ConfigError(
                f"{name}: the line does not serve '{code}' (IVR_LANGUAGES is {','.join(languages)})"
            )
        urls[code] = _review_url(env, name)
    return urls


MIN_EVENTS_SECRET = 24
"""Characters IVR_EVENTS_SECRET must have at least: a signing key, not a password to remember."""


def _events(env: Mapping[str, str]) -> tuple[str, dict[str, str], str]:
    """IVR_EVENTS_URL, IVR_EVENTS_URL_<TYPE> and IVR_EVENTS_SECRET, checked together: a type
    the line does not know is refused (a typo would send that kind nowhere, unnoticed), and a
    URL without a secret too (unsigned events are ones a receiver cannot trust)."""
    kinds = {kind.setting: kind.value for kind in EventType}
    example = "https://crm.example.com/ivr-events"
    default = _review_url(env, "IVR_EVENTS_URL", example)
    by_type: dict[str, str] = {}
    for name in sorted(env):
        if not name.startswith("IVR_EVENTS_URL_") or not env[name].strip():
            continue
        if name not in kinds:
            known = ", ".join(sorted(kinds))
            raise ConfigError(f"{name}: the line sends no such kind of event (it knows {known})")
        by_type[kinds[name]] = _review_url(env, name, example)
    secret = env.get("IVR_EVENTS_SECRET", "").strip()
    if (default or by_type) and len(secret) < MIN_EVENTS_SECRET:
        raise ConfigError(
            f"IVR_EVENTS_SECRET must be set, {MIN_EVENTS_SECRET} characters or more, when events are sent "
            "(IVR_EVENTS_URL…): receivers check each event's signature with it"
        )
    return default, by_type, secret


def _switch(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "off").strip().lower() or "off"
    if raw not in ("on", "off"):
        raise ConfigError(f"{name} must be 'on' or 'off', got '{raw}'")
    return raw == "on"


_LANGUAGE_CODE = re.compile(r"[a-z]{2,3}")


def _languages(env: Mapping[str, str]) -> tuple[str, ...]:
    """IVR_LANGUAGES (`en,de,sv`, the default first), else the older single IVR_LANGUAGE."""
    name = "IVR_LANGUAGES" if env.get("IVR_LANGUAGES", "").strip() else "IVR_LANGUAGE"
    codes = _items(env, name) if name == "IVR_LANGUAGES" else [env.get("IVR_LANGUAGE", "en").strip() or "en"]
    for code in codes:
        if not _LANGUAGE_CODE.fullmatch(code):
            raise ConfigError(f"{name} must be language codes like en,de,sv (default first); not '{code}'")
    if len(set(codes)) != len(codes):
        raise ConfigError(f"{name} names a language twice: {','.join(codes)}")
    single = env.get("IVR_LANGUAGE", "").strip()
    if name == "IVR_LANGUAGES" and single and single != codes[0]:
        raise ConfigError(
            f"IVR_LANGUAGE '{single}' and IVR_LANGUAGES '{','.join(codes)}' disagree on the default "
            "language: set only IVR_LANGUAGES (its first language is the default)"
        )
    return tuple(codes)


def _number_languages(env: Mapping[str, str], languages: tuple[str, ...]) -> dict[str, str]:
    """IVR_NUMBER_LANGUAGES: `+4930555010=de,+46812345=sv`, each a called number and a served language."""
    out: dict[str, str] = {}
    for item in _items(env, "IVR_NUMBER_LANGUAGES"):
        number, _, code = (part.strip() for part in item.partition("="))
        if not _E164.fullmatch(number) or not code:
            raise ConfigError(f"IVR_NUMBER_LANGUAGES must be like +4930555010=de,+46812345=sv; not '{item}'")
        if code not in languages:
            raise ConfigError(
                f"IVR_NUMBER_LANGUAGES gives {number} the language '{code}', which the line does not "
                f"serve (IVR_LANGUAGES is {','.join(languages)})"
            )
        if number in out:
            raise ConfigError(f"IVR_NUMBER_LANGUAGES names {number} twice")
        out[number] = code
    return out


def _vosk_model(env: Mapping[str, str], code: str, models_dir: Path, default: bool) -> Path:
    """IVR_VOSK_MODEL_<LANG> (for the default language also IVR_VOSK_MODEL), else var/models/<lang>."""
    chosen = env.get(f"IVR_VOSK_MODEL_{code.upper()}") or (env.get("IVR_VOSK_MODEL") if default else "")
    return Path(chosen) if chosen else models_dir / code


MAX_SWEEP_AFTER = 4 * 3600 - 600
"""IVR_SWEEP_AFTER's ceiling: a sweep (every 5 minutes at most) must come before Redis expires
a live call unwritten for 4 hours (`ivr.store.redis.RedisSessionStore`'s live TTL)."""


def _seconds(
    env: Mapping[str, str], name: str, default: int, *, minimum: int = 0, maximum: int | None = None
) -> float:
    """A whole number setting (seconds or a count), at least `minimum` (and at most `maximum`)."""
    raw = env.get(name, str(default)).strip()
    if not raw.isdigit() or int(raw) < minimum or (maximum is not None and int(raw) > maximum):
        bounds = f"between {minimum} and {maximum}" if maximum is not None else f"of at least {minimum}"
        raise ConfigError(f"{name} must be a whole number {bounds}, got '{raw}'")
    return float(raw)


def _items(env: Mapping[str, str], name: str) -> list[str]:
    return [item.strip() for item in env.get(name, "").split(",") if item.strip()]


def _networks(env: Mapping[str, str], name: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """Comma-separated IP addresses and CIDR networks; a network with host bits set is refused,
    as `10.0.0.1/8` is more likely a typo than a wish to trust 16 million addresses."""
    networks = []
    for item in _items(env, name):
        try:
            networks.append(ipaddress.ip_network(item))
        except ValueError as exc:
            raise ConfigError(
                f"{name} must be comma-separated IP addresses or networks like 10.0.0.0/8; '{item}': {exc}"
            ) from None
    return tuple(networks)


def _numbers(env: Mapping[str, str], name: str) -> frozenset[str]:
    numbers = _items(env, name)
    if bad := [n for n in numbers if not _E164.fullmatch(n)]:
        raise ConfigError(f"{name} must be comma-separated E.164 numbers like +15551234567; not '{bad[0]}'")
    return frozenset(numbers)
