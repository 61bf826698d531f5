"""German: the words the line understands and says in German outside the prompts files.

The same names as `ivr.locales.en` (see there); written for German callers, not translated.
"""

STEMMER = "german"

FILLER = (
    "ich mich mir mein meine meinen meinem meiner meines wir uns unser unsere sie ihr ihre ihren "
    "ihrem ihnen es der die das den dem des ein eine einen einem einer eines ist sind war bin in "
    "wurde worden zu zum zur von vom für auf im am an bei beim mit aus über um so nur äh ähm hm "
    "ach also hallo guten tag bitte danke möchte möchten würde hätte gern gerne will wollte "
    "brauche kann könnte können habe hat haben und oder aber dann auch mal doch denn schon "
    "anrufen rufe an wegen wissen wüsste sagen nachfragen geht"
)

REPEAT_WORDS = ("wiederholen", "bitte wiederholen", "noch einmal", "nochmal", "noch mal", "wie bitte", "was")

POLITE_WORDS = ("bitte", "können", "sie")

MAIN_MENU_WORDS = ("hauptmenü", "menü", "zurück", "zurückgehen", "von vorne", "nochmal von vorn", "anfang")

YES_WORDS = ("ja", "jawohl", "genau", "richtig", "stimmt", "korrekt", "jep", "klar", "sicher")
NO_WORDS = ("nein", "nee", "ne", "nö", "falsch", "nicht", "eben nicht")

AGENT_WORDS = ("mitarbeiter", "mitarbeiterin", "jemanden sprechen", "mensch", "berater", "beraterin")

KEY_NAMES = {"*": "Stern", "#": "Raute"}

KEYPAD_WORDS = {
    "null": "0",
    "eins": "1",
    "zwei": "2",
    "zwo": "2",
    "drei": "3",
    "vier": "4",
    "fünf": "5",
    "sechs": "6",
    "sieben": "7",
    "acht": "8",
    "neun": "9",
    "stern": "*",
    "raute": "#",
}

LANGUAGE_NAMES = ("deutsch", "german", "tyska", "tysk")

CHOICE_TEXT = "Für Deutsch sagen Sie Deutsch oder drücken Sie die {key}."

OFFER_TEXT = "Möchten Sie lieber auf Deutsch weitermachen? Dann sagen Sie ja oder drücken Sie die 1."
"""Said, in this language, to a caller who speaks it on a number of another language."""

SWITCH_TEXT = "Für Deutsch drücken Sie die Sterntaste."

FAULT_APOLOGY = "Entschuldigung, bei uns ist ein Fehler aufgetreten. Ich verbinde Sie mit einem Mitarbeiter."
FAULT_NOBODY_FREE = (
    "Leider kann gerade niemand Ihren Anruf annehmen. Bitte rufen Sie später wieder an. Auf Wiederhören."
)
FAULT_GOODBYE = "Auf Wiederhören."

ON_DAY = "am {0}"
ON_DATE = "am {0}"
DAY_AND_DATE = "{day}, dem {date}"
"""German prompts put "am" before it ("am Freitag, dem 4. Dezember")."""

SURVEY_ASK = (
    "Bevor Sie auflegen, bleiben Sie bitte für eine Frage dran. Wie zufrieden sind Sie mit"
    " diesem Anruf, von 1 bis 5? Drücken oder sagen Sie eine Zahl."
)

SURVEY_NOT_A_SCORE = "Entschuldigung, bitte antworten Sie mit einer Zahl von 1 bis 5."

SURVEY_THANKS = "Vielen Dank für Ihre Antwort."
