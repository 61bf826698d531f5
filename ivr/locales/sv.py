"""Swedish: the words the line understands and says in Swedish outside the prompts files.

The same names as `ivr.locales.en` (see there); written for Swedish callers, not translated.
"""

STEMMER = "swedish"

FILLER = (
    "jag mig min mitt mina vi oss vår vårt våra du dig din ditt dina ni er ert era det den de "
    "dem en ett är att av för på till med från om så bara eh öh hmm mm hej hallå tack snälla "
    "skulle vill ville kan kunde har hade ha och eller men också ringer ringde ringa veta "
    "undrar undra säga gäller alltså lite"
)

REPEAT_WORDS = (
    "upprepa",
    "igen",
    "en gång till",
    "höra det igen",
    "säg det igen",
    "förlåt",
    "vad sa du",
    "va",
)

POLITE_WORDS = ("kan", "du", "tack", "snälla")

MAIN_MENU_WORDS = (
    "huvudmenyn",
    "huvudmeny",
    "menyn",
    "meny",
    "tillbaka",
    "gå tillbaka",
    "börja om",
    "början",
)

YES_WORDS = ("ja", "japp", "jajamen", "precis", "visst", "stämmer", "absolut", "just det", "korrekt")
NO_WORDS = ("nej", "nä", "näe", "nää", "fel", "inte", "inte det")

AGENT_WORDS = ("handläggare", "prata med någon", "en människa", "person", "kundtjänst")

KEY_NAMES = {"*": "stjärna", "#": "fyrkant"}

KEYPAD_WORDS = {
    "noll": "0",
    "ett": "1",
    "etta": "1",
    "två": "2",
    "tre": "3",
    "fyra": "4",
    "fem": "5",
    "sex": "6",
    "sju": "7",
    "åtta": "8",
    "nio": "9",
    "stjärna": "*",
    "fyrkant": "#",
}

LANGUAGE_NAMES = ("svenska", "swedish", "schwedisch", "svensk")

CHOICE_TEXT = "För svenska, säg svenska eller tryck {key}."

OFFER_TEXT = "Vill du hellre fortsätta på svenska? Säg ja, eller tryck 1."
"""Said, in this language, to a caller who speaks it on a number of another language."""

SWITCH_TEXT = "För svenska, tryck stjärna."

FAULT_APOLOGY = "Förlåt, något gick fel hos oss. Jag kopplar dig till en medarbetare."
FAULT_NOBODY_FREE = "Tyvärr kan ingen ta ditt samtal just nu. Ring gärna igen senare. Hej då."
FAULT_GOODBYE = "Hej då."

ON_DAY = "på {0}"
ON_DATE = "den {0}"
""""den 4 december", not "på 4 december"."""

DAY_AND_DATE = "{day} den {date}"

SURVEY_ASK = (
    "Innan du lägger på, stanna gärna kvar för en fråga. Hur nöjd är du med det här samtalet,"
    " från 1 till 5? Du kan trycka eller säga en siffra."
)

SURVEY_NOT_A_SCORE = "Förlåt, svara med en siffra från 1 till 5."

SURVEY_THANKS = "Tack för ditt svar."
