"""What the agent hears before taking a caller: built only from what the flow collected, said in
the agent's own language (their account's setting, English by default).

Nothing is guessed or looked up again: a name is said only if the flow learned it, and
whether the caller was verified is said either way, so the agent knows how far to trust it.
The caller's language is named, so an agent knows which language to answer in.

The words are a table per language below (`WORDS`), one entry for each language an account
may choose (`ivr.store.accounts.LANGUAGES`): a supervisor reads and words them here, as the
callers' queue words in `ivr.agents.caller_words`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ivr.speakable import digits as spoken_digits


@dataclass(frozen=True, slots=True)
class AgentWords:
    """The desk's words to an agent in one language. `{…}` are filled in; each is one sentence
    or the part of one its docstring says."""

    say_language: str
    """How `<Say>` speaks them (BCP-47) when the line's own prompts do not serve this language."""
    caller: str
    """`{who}`, `{verified}`: who is calling. `{speaks}` (may be empty) is added after it."""
    callback: str
    """`{who}`, `{verified}`: a callback the agent is about to make."""
    name_not_known: str
    verified: str
    not_verified: str
    speaks: str
    """`{language}`: the caller's language, one of `languages`."""
    languages: Mapping[str, str]
    """Each language's name, as said in this one."""
    why: str
    """`{reason}`: one of `reasons` (or a reason's own name)."""
    reasons: Mapping[str, str]
    order: str
    """`{number}` (digits), then `{status}` if known."""
    ticket: str
    """`{number}` (digits), then `product` if known, then `{status}` if known."""
    product: str
    """`{product}`: what the repair is of (the record's own word); `{a}` its English article
    ("a" or "an", chosen from the word, so the whisper never says "a espresso machine")."""
    serial: str
    """`{number}` (digits), then `{plan}` if known."""
    guide: str
    """`{guide}` (a troubleshooting guide's title, in the caller's language), `{tried}` and
    `{skipped}`: how many of its steps the caller tried without success, and skipped."""
    statuses: Mapping[str, str]
    """Order and repair statuses and warranty plans (the records' values)."""
    take: str
    """After the summary: the one key to press."""
    passed: str
    missed: str
    no_longer_waiting: str
    accepted: Mapping[str, str]
    """After 1: each `AcceptedNote` but the empty one."""

    def status(self, value: str) -> str:
        return self.statuses.get(value, value.replace("_", " "))


ENGLISH = AgentWords(
    say_language="en-US",
    caller="Caller: {who}, {verified}",
    callback="Callback for {who}, {verified}",
    name_not_known="name not known",
    verified="verified",
    not_verified="not verified",
    speaks="speaks {language}",
    languages={"en": "English", "de": "German", "sv": "Swedish"},
    why="The caller {reason}.",
    reasons={
        "caller_asked": "asked for an agent",
        "self_service_failed": "could not be helped by the automated line",
        "not_understood": "was not understood by the automated line",
        "system_error": "was handed over after a fault on our side",
        "guide_not_solved": "tried a troubleshooting guide that did not fix the problem",
    },
    order="Order {number}",
    ticket="Repair ticket {number}",
    product=" for {a} {product}",
    serial="Serial number {number}",
    guide="Guide for {guide}: {tried} steps tried without success, {skipped} skipped.",
    statuses={"standard": "warranty standard", "extended": "warranty extended"},
    take="Press 1 to take this call, or any other key to pass.",
    passed="Passed. The caller goes back to the queue.",
    missed=(
        "No key was pressed, so you are set to busy until you choose Available on the desk. "
        "The caller goes back to the queue."
    ),
    no_longer_waiting="This caller is no longer waiting. Goodbye.",
    accepted={
        "cannot_connect": "I'm sorry, the line cannot connect calls right now. Please try again shortly.",
        "caller_gone": "I'm sorry, the caller has hung up.",
        "callback_not_needed": "I'm sorry, this callback is no longer needed.",
        "callback_failed": "I'm sorry, the call to the customer could not be placed. It will be tried again.",
        "calling_customer": "Calling the customer now.",
    },
)

WORDS: Mapping[str, AgentWords] = {
    "en": ENGLISH,
    "de": AgentWords(
        say_language="de-DE",
        caller="Anrufer: {who}, {verified}",
        callback="Rückruf für {who}, {verified}",
        name_not_known="Name unbekannt",
        verified="verifiziert",
        not_verified="nicht verifiziert",
        speaks="spricht {language}",
        languages={"en": "Englisch", "de": "Deutsch", "sv": "Schwedisch"},
        why="{reason}.",
        reasons={
            "caller_asked": "Möchte mit einem Mitarbeiter sprechen",
            "self_service_failed": "Der Sprachdialog konnte nicht helfen",
            "not_understood": "Der Sprachdialog hat den Anrufer nicht verstanden",
            "system_error": "Nach einem Fehler bei uns weitergeleitet",
            "guide_not_solved": "Die Schritt-für-Schritt-Anleitung hat das Problem nicht gelöst",
        },
        order="Bestellung {number}",
        ticket="Reparaturauftrag {number}",
        product=" für {product}",
        serial="Seriennummer {number}",
        guide="Anleitung für {guide}: {tried} Schritte ohne Erfolg ausprobiert, {skipped} übersprungen.",
        statuses={
            "received": "eingegangen",
            "processing": "in Bearbeitung",
            "shipped": "versandt",
            "out_for_delivery": "in der Zustellung",
            "delivered": "zugestellt",
            "cancelled": "storniert",
            "returned": "zurückgeschickt",
            "diagnosing": "in der Diagnose",
            "waiting_for_parts": "wartet auf Ersatzteile",
            "repairing": "in Reparatur",
            "ready_for_pickup": "abholbereit",
            "shipped_back": "zurückgeschickt",
            "closed": "abgeschlossen",
            "standard": "Standardgarantie",
            "extended": "erweiterte Garantie",
        },
        take="Drücken Sie die 1, um den Anruf anzunehmen, oder eine andere Taste, um ihn abzugeben.",
        passed="Abgegeben. Der Anruf geht zurück in die Warteschlange.",
        missed=(
            "Es wurde keine Taste gedrückt, deshalb sind Sie auf beschäftigt gesetzt, bis Sie am "
            "Arbeitsplatz Verfügbar wählen. Der Anruf geht zurück in die Warteschlange."
        ),
        no_longer_waiting="Dieser Anrufer wartet nicht mehr. Auf Wiederhören.",
        accepted={
            "cannot_connect": (
                "Entschuldigung, die Leitung kann gerade keine Anrufe verbinden. "
                "Bitte versuchen Sie es gleich noch einmal."
            ),
            "caller_gone": "Entschuldigung, der Anrufer hat aufgelegt.",
            "callback_not_needed": "Entschuldigung, dieser Rückruf ist nicht mehr nötig.",
            "callback_failed": (
                "Entschuldigung, der Kunde konnte nicht angerufen werden. "
                "Es wird später noch einmal versucht."
            ),
            "calling_customer": "Der Kunde wird jetzt angerufen.",
        },
    ),
    "sv": AgentWords(
        say_language="sv-SE",
        caller="Uppringare: {who}, {verified}",
        callback="Återuppringning till {who}, {verified}",
        name_not_known="namn okänt",
        verified="verifierad",
        not_verified="inte verifierad",
        speaks="talar {language}",
        languages={"en": "engelska", "de": "tyska", "sv": "svenska"},
        why="{reason}.",
        reasons={
            "caller_asked": "Vill prata med en medarbetare",
            "self_service_failed": "Den automatiska tjänsten kunde inte hjälpa",
            "not_understood": "Den automatiska tjänsten förstod inte uppringaren",
            "system_error": "Kopplad vidare efter ett fel hos oss",
            "guide_not_solved": "Felsökningsguiden löste inte problemet",
        },
        order="Beställning {number}",
        ticket="Reparationsärende {number}",
        product=" för {product}",
        serial="Serienummer {number}",
        guide="Guiden för {guide}: {tried} steg provade utan resultat, {skipped} överhoppade.",
        statuses={
            "received": "mottagen",
            "processing": "behandlas",
            "shipped": "skickad",
            "out_for_delivery": "ute för leverans",
            "delivered": "levererad",
            "cancelled": "makulerad",
            "returned": "returnerad",
            "diagnosing": "felsöks",
            "waiting_for_parts": "väntar på reservdelar",
            "repairing": "repareras",
            "ready_for_pickup": "klar att hämta",
            "shipped_back": "skickad tillbaka",
            "closed": "avslutad",
            "standard": "standardgaranti",
            "extended": "utökad garanti",
        },
        take="Tryck 1 för att ta samtalet, eller någon annan knapp för att lämna det.",
        passed="Lämnat. Samtalet går tillbaka till kön.",
        missed=(
            "Ingen knapp trycktes, så du är markerad som upptagen tills du väljer Tillgänglig i "
            "konsolen. Samtalet går tillbaka till kön."
        ),
        no_longer_waiting="Den här uppringaren väntar inte längre. Hej då.",
        accepted={
            "cannot_connect": "Förlåt, linjen kan inte koppla samtal just nu. Försök igen om en stund.",
            "caller_gone": "Förlåt, uppringaren har lagt på.",
            "callback_not_needed": "Förlåt, den här återuppringningen behövs inte längre.",
            "callback_failed": "Förlåt, det gick inte att ringa kunden. Vi försöker igen senare.",
            "calling_customer": "Vi ringer kunden nu.",
        },
    ),
}


def words_for(language: str) -> AgentWords:
    """The agent's language's words (English for one without its own)."""
    return WORDS.get(language, ENGLISH)


def indefinite_article(noun: str) -> str:
    """ "an" before a vowel sound as spelt ("an espresso machine"), else "a"; a record's product
    word is a plain noun, so its first letter is a good enough guide."""
    return "an" if noun[:1].lower() in "aeiou" else "a"


def summary(
    reason: str, context: Mapping[str, str], *, callback: bool = False, words: AgentWords = ENGLISH
) -> str:
    """One spoken paragraph: who (if known), verified or not, in which language, why, and the
    numbers with their status."""
    who = context.get("customer_name", "") or words.name_not_known
    verified = words.verified if context.get("verified") == "yes" else words.not_verified
    lead = (words.callback if callback else words.caller).format(who=who, verified=verified)
    if language := context.get("language", ""):
        lead += ", " + words.speaks.format(language=words.languages.get(language, language))
    parts = [f"{lead}.", words.why.format(reason=words.reasons.get(reason, reason.replace("_", " ")))]
    if order := context.get("order_number"):
        status = context.get("order_status", "")
        parts.append(
            words.order.format(number=spoken_digits(order))
            + (f", {words.status(status)}." if status else ".")
        )
    if ticket := context.get("ticket_number"):
        status = context.get("repair_status", "")
        product = context.get("repair_product", "")
        about = words.product.format(product=product, a=indefinite_article(product)) if product else ""
        parts.append(
            words.ticket.format(number=spoken_digits(ticket))
            + about
            + (f", {words.status(status)}." if status else ".")
        )
    if serial := context.get("serial_number"):
        plan = context.get("warranty_plan", "")
        parts.append(
            words.serial.format(number=spoken_digits(serial)) + (f", {words.status(plan)}." if plan else ".")
        )
    if outcome := context.get("guide_outcome"):
        parts.append(_guide(outcome, context.get("guide_title", ""), words))
    return " ".join(parts)


def _guide(outcome: str, title: str, words: AgentWords) -> str:
    """`guide_outcome` ("washing-machine-drain: 1 no, 2 skipped") as the agent hears it."""
    name, _, steps = outcome.partition(":")
    answers = [item.split()[-1] for item in steps.split(",") if item.strip()]
    return words.guide.format(
        guide=title or name.replace("-", " ").strip(),
        tried=answers.count("no"),
        skipped=answers.count("skipped"),
    )
