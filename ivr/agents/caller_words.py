"""What a caller hears from the agent desk, in the caller's language: their place in the queue,
the way out of it, a callback's confirmation, the voicemail invitation, goodbyes.

These are the desk's own words, not a flow's prompts (a supervisor edits the conversation;
the queue's announcements are part of the service), so they live here, one set per
language the line ships with; a language without its own set hears English. The caller's
language comes with the hand-off (`context["language"]`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CallerWords:
    next_in_line: str
    place: str
    """`{position}`: the caller's place when not next."""
    estimate: str
    """`{wait}`: `about_minutes` filled in."""
    about_minutes: tuple[str, str]
    """(one minute, `{count}` minutes)."""
    way_out: str
    callback_offer: str
    stay: str
    thanks: str
    nobody_free: str
    called_back: str
    """`{last}`: the number's last digits, `{wait}`: when."""
    leave_message: str
    recording_notice: str
    """Said before the beep: that the message is recorded, and who hears it (a market may turn it off)."""
    no_message: str
    """After the beep, when nothing was recorded: Twilio goes on past `<Record>` to this."""
    goodbye: str
    connecting: str
    calling_back: str
    """Said to a customer who picks up the callback they asked for."""
    not_needed: str
    message_taken: str
    lost_place: str
    sorry: str
    closed: str
    closed_emergency: str
    hours_are: str
    """`{week}`: the week's hours, as `ivr.hours.describe_week` says them in this language."""
    in_line: tuple[str, str]
    """A plain Twilio queue (no desk): (next, `{position}`), then `line_wait` when Twilio knows it."""
    line_wait: tuple[str, str]
    """(about one minute, about `{count}` minutes)."""

    def minutes(self, seconds: float) -> str:
        count = max(1, math.ceil(seconds / 60))
        one, many = self.about_minutes
        return one if count == 1 else many.format(count=count)

    def in_plain_queue(self, position: int, average_seconds: int) -> str:
        """A plain Twilio queue's place and average wait (`QueuePosition`, `AvgQueueTime`); ""
        when Twilio did not say."""
        if position <= 0:
            return ""
        text = self.in_line[0] if position == 1 else self.in_line[1].format(position=position)
        if average_seconds > 0:
            count = max(1, -(-average_seconds // 60))
            text += " " + (self.line_wait[0] if count == 1 else self.line_wait[1].format(count=count))
        return text

    def waiting(self, position: int, estimate_seconds: float) -> str:
        place = self.next_in_line if position == 1 else self.place.format(position=position)
        return f"{place} {self.estimate.format(wait=self.minutes(estimate_seconds))}"


ENGLISH = CallerWords(
    next_in_line="You are next.",
    place="You are number {position} in the queue.",
    estimate="Your estimated wait is {wait}.",
    about_minutes=("about 1 minute", "about {count} minutes"),
    way_out=(
        "I'm sorry, nobody is free right now. To be called back, press 1. "
        "To leave a message, press 2. Or stay on the line."
    ),
    callback_offer="To be called back instead of waiting, press 1.",
    stay="Please stay on the line.",
    thanks="Thank you.",
    nobody_free="I'm sorry, nobody is free to take your call right now. Goodbye.",
    called_back=(
        "We will call you back at your number ending in {last} in {wait}. Thank you for calling. Goodbye."
    ),
    leave_message="Please leave a message after the tone with how we can help, and we will get back to you.",
    recording_notice="Your message will be recorded and heard only by our support team.",
    no_message="I didn't get a message. Goodbye.",
    goodbye="Thank you for calling. Goodbye.",
    connecting="Connecting you now.",
    calling_back="Hello, this is Acme support calling you back as you asked. Connecting you to an agent.",
    not_needed="I'm sorry, this call is no longer needed. Goodbye.",
    message_taken="Thank you, we have your message and will get back to you. Goodbye.",
    lost_place="I'm sorry, we could not find your place in the queue.",
    sorry="I'm sorry, something went wrong on our side. Goodbye.",
    closed="I'm sorry, we are closed now.",
    closed_emergency="I'm sorry, we are closed at the moment.",
    hours_are="Our opening hours are: {week}",
    in_line=("You are next in line.", "You are number {position} in line."),
    line_wait=("The wait is about 1 minute.", "The wait is about {count} minutes."),
)

WORDS: Mapping[str, CallerWords] = {
    "en": ENGLISH,
    "de": CallerWords(
        next_in_line="Sie sind als Nächstes dran.",
        place="Sie sind an Position {position} in der Warteschlange.",
        estimate="Die Wartezeit beträgt {wait}.",
        about_minutes=("etwa 1 Minute", "etwa {count} Minuten"),
        way_out=(
            "Leider ist gerade niemand frei. Für einen Rückruf drücken Sie die 1. "
            "Um eine Nachricht zu hinterlassen, die 2. Oder bleiben Sie einfach dran."
        ),
        callback_offer="Wenn wir Sie lieber zurückrufen sollen, statt dass Sie warten, drücken Sie die 1.",
        stay="Bitte bleiben Sie dran.",
        thanks="Vielen Dank.",
        nobody_free="Leider kann gerade niemand Ihren Anruf annehmen. Auf Wiederhören.",
        called_back=(
            "Wir rufen Sie in {wait} unter Ihrer Nummer mit den Endziffern {last} zurück. "
            "Danke für Ihren Anruf. Auf Wiederhören."
        ),
        leave_message=(
            "Bitte sagen Sie uns nach dem Signalton, wobei wir helfen können. Wir melden uns bei Ihnen."
        ),
        recording_notice="Ihre Nachricht wird aufgezeichnet und nur von unserem Kundenservice angehört.",
        no_message="Ich habe leider keine Nachricht gehört. Auf Wiederhören.",
        goodbye="Danke für Ihren Anruf. Auf Wiederhören.",
        connecting="Ich verbinde Sie jetzt.",
        calling_back="Guten Tag, hier ist der Acme-Kundenservice mit Ihrem Rückruf. Ich verbinde Sie.",
        not_needed="Dieser Anruf ist nicht mehr nötig. Auf Wiederhören.",
        message_taken="Vielen Dank, wir haben Ihre Nachricht und melden uns bei Ihnen. Auf Wiederhören.",
        lost_place="Entschuldigung, wir konnten Ihren Platz in der Warteschlange nicht finden.",
        sorry="Entschuldigung, bei uns ist ein Fehler aufgetreten. Auf Wiederhören.",
        closed="Leider haben wir gerade geschlossen.",
        closed_emergency="Leider sind wir im Moment nicht erreichbar.",
        hours_are="Unsere Öffnungszeiten: {week}",
        in_line=("Sie sind als Nächstes dran.", "Sie sind an Position {position} in der Warteschlange."),
        line_wait=("Die Wartezeit beträgt etwa 1 Minute.", "Die Wartezeit beträgt etwa {count} Minuten."),
    ),
    "sv": CallerWords(
        next_in_line="Du står först i kön.",
        place="Du har plats {position} i kön.",
        estimate="Beräknad väntetid är {wait}.",
        about_minutes=("ungefär 1 minut", "ungefär {count} minuter"),
        way_out=(
            "Tyvärr är ingen ledig just nu. Tryck 1 om du vill bli uppringd. "
            "Tryck 2 om du vill lämna ett meddelande. Eller vänta kvar."
        ),
        callback_offer="Tryck 1 om du hellre vill bli uppringd än vänta.",
        stay="Vänta kvar.",
        thanks="Tack.",
        nobody_free="Tyvärr kan ingen ta ditt samtal just nu. Hej då.",
        called_back=(
            "Vi ringer upp dig om {wait} på numret som slutar på {last}. Tack för att du ringde. Hej då."
        ),
        leave_message="Berätta efter tonen vad vi kan hjälpa dig med, så hör vi av oss.",
        recording_notice="Ditt meddelande spelas in, och bara vår kundtjänst lyssnar på det.",
        no_message="Jag hörde inget meddelande. Hej då.",
        goodbye="Tack för att du ringde. Hej då.",
        connecting="Jag kopplar dig nu.",
        calling_back=(
            "Hej, det här är Acmes kundtjänst som ringer upp dig. Jag kopplar dig till en medarbetare."
        ),
        not_needed="Det här samtalet behövs inte längre. Hej då.",
        message_taken="Tack, vi har fått ditt meddelande och hör av oss. Hej då.",
        lost_place="Förlåt, vi hittade inte din plats i kön.",
        sorry="Förlåt, något gick fel hos oss. Hej då.",
        closed="Tyvärr har vi stängt just nu.",
        closed_emergency="Tyvärr har vi stängt för tillfället.",
        hours_are="Våra öppettider är {week}",
        in_line=("Du står först i kön.", "Du har plats {position} i kön."),
        line_wait=("Väntetiden är ungefär 1 minut.", "Väntetiden är ungefär {count} minuter."),
    ),
}


def words_for(language: str) -> CallerWords:
    """The caller's language's words (English for one without its own)."""
    return WORDS.get(language, ENGLISH)
