"""What start-up reads and checks before anything serves a call: the starting flow and
prompts, the troubleshooting guides, the market files, business hours and the line's time
zone. A broken file stops start-up with its line and reason."""

from __future__ import annotations

import dataclasses
from datetime import UTC, tzinfo

from ivr.config import ConfigError, Settings
from ivr.flow.files import CompiledFlow, FlowFiles, compile_files, read_files
from ivr.hours import BusinessHours, HoursInvalid, parse_hours
from ivr.markets import Markets, MarketsInvalid, load_markets
from ivr.yamlsource import SourceError, load_file


def load_market_files(settings: Settings) -> Markets | None:
    """The markets (IVR_MARKETS), read whole at start-up; None when the line has none.

    Raises:
        ConfigError: listing each market file's mistakes with line and reason (a market
            missing its rights or its places would answer with another country's), or a
            market number IVR_NUMBER_LANGUAGES gives another language.
    """
    if settings.markets_dir is None:
        return None
    try:
        markets = load_markets(settings.markets_dir, settings.languages)
    except MarketsInvalid as exc:
        raise ConfigError(
            f"IVR_MARKETS: the markets in {settings.markets_dir} cannot be used:\n{exc}"
        ) from None
    for market in markets.by_code.values():
        for number in market.numbers:
            said = settings.number_languages.get(number, market.language)
            if said != market.language:
                raise ConfigError(
                    f"IVR_NUMBER_LANGUAGES gives {number} '{said}', but markets/{market.code}.yaml "
                    f"says '{market.language}': name a number's language in one place"
                )
    return markets


def with_market_numbers(settings: Settings, markets: Markets | None) -> Settings:
    """The settings with each market number speaking its market's language (IVR_NUMBER_LANGUAGES
    need not repeat them)."""
    if markets is None:
        return settings
    numbers = {n: m.language for m in markets.by_code.values() for n in m.numbers}
    return dataclasses.replace(settings, number_languages={**settings.number_languages, **numbers})


def load_hours(settings: Settings) -> BusinessHours | None:
    """The line's one schedule (IVR_HOURS), read at start-up for every hand-off set-up; with
    markets, the default market's (the desk's, the insights' and the campaigns' hours).

    Raises:
        ConfigError: naming the file, and each mistake's line and reason; a line that
            silently ignored its hours would tell callers "please hold" at midnight.
    """
    markets = load_market_files(settings)
    if markets is not None:
        return markets.default.hours
    if settings.hours_file is None:
        return None
    try:
        doc = load_file(settings.hours_file)
        data = doc.data.get("hours", doc.data) if isinstance(doc.data, dict) else doc.data
        path: tuple[str, ...] = ("hours",) if isinstance(doc.data, dict) and "hours" in doc.data else ()
        return parse_hours(data, doc, path)
    except (HoursInvalid, SourceError) as exc:
        raise ConfigError(
            f"IVR_HOURS: the business hours in {settings.hours_file} cannot be used:\n{exc}"
        ) from None


def line_zone(settings: Settings, hours: BusinessHours | None) -> tzinfo:
    """The line's time zone, whose days and hours the insights count: the business hours'
    own zone, else IVR_TIME_ZONE, else UTC.

    Raises:
        ConfigError: when IVR_TIME_ZONE names another zone than the hours (a line has one).
    """
    if hours is None:
        return settings.time_zone or UTC
    if settings.time_zone is not None and settings.time_zone.key != hours.timezone.key:
        raise ConfigError(
            f"IVR_TIME_ZONE '{settings.time_zone.key}' is not the time zone of the business hours"
            f" (IVR_HOURS: '{hours.timezone.key}'): set one of them, or the same zone in both"
        )
    return hours.timezone


def check_starting_flow(settings: Settings) -> tuple[FlowFiles, CompiledFlow]:
    """Read and compile the starting flow, prompts and guides (IVR_FLOW, IVR_PROMPTS,
    IVR_GUIDES); raises if broken."""
    starting = read_files(settings.flow_file, settings.prompts_dir, settings.guides_dir)
    for code in settings.languages:
        if code not in starting.prompts:
            name = "IVR_LANGUAGES" if settings.languages[1:] else "IVR_LANGUAGE"
            raise ValueError(f"{name}: '{code}' has no prompts file in {settings.prompts_dir}")
    prompts_source = str(settings.prompts_dir)
    checked = compile_files(
        starting,
        str(settings.flow_file),
        prompts_source=prompts_source,
        language=settings.language,
        languages=settings.languages,
        guides_source=str(settings.guides_dir),
    )
    return starting, checked
