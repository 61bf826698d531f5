"""English: the words the line understands and says in English outside the prompts files.

One module per language, each with the same names (`ivr.locales.Locale` lists them and
mypy checks every module against it): a native speaker reviews one file, and a new language
is a new module beside this one.
"""

STEMMER = "english"
"""Snowball's stemmer for callers' words (intents)."""

FILLER = (
    "a an the i i'm im me my mine we our us you your it its it's is are was were be been am "
    "to of for on in at by with from about this that these those there here so just um uh "
    "er hmm well hi hello hey please thanks thank would like want wanted need needs "
    "can could do does did have has had get got some any and or but if then also "
    "calling call know tell find out check see"
)
"""Words that say nothing about what a caller wants (space-separated)."""

REPEAT_WORDS = ("repeat", "repeat that", "say that again", "say again", "again", "what", "pardon")
"""Said alone (or with "please") in a menu that repeats: say the last answer again."""

POLITE_WORDS = ("please", "can", "you")
"""Left out before asking whether a caller asked for a repeat ("can you repeat that, please")."""

MAIN_MENU_WORDS = ("main menu", "menu", "go back", "back", "start again", "start over")
"""Said as the whole answer at any question: leave it for the flow's main menu."""

YES_WORDS = ("yes", "yeah", "yep", "yup", "sure", "correct", "right", "that's right", "exactly", "it is")
NO_WORDS = ("no", "nope", "nah", "not really", "wrong", "not that", "isn't", "it isn't")
"""The answers to "Is this about …?"."""

AGENT_WORDS: tuple[str, ...] = ()
"""Built-in ways to ask for a person besides the flow's `agent_words` (which are English)."""

KEY_NAMES = {"*": "star", "#": "pound"}
"""How a prompt names the keys that are not digits."""

KEYPAD_WORDS = {
    "zero": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
    "star": "*",
    "pound": "#",
    "hash": "#",
}
"""Keypad keys named aloud ("one", "zero", "pound"), and the key each names.

One table per language for menus (`ivr.speech.number_words`): local recognition offers these
words in a menu's grammar, and the flow engine turns them into keys, so a word can never be
heard but not understood (or understood but never heard).
"""

LANGUAGE_NAMES = ("english", "englisch", "engelska")
"""What a caller may say to choose this language: its own name first, then its names in the others."""

CHOICE_TEXT = "For English, say English or press {key}."
"""This language's option in the language choice, said in it (`{key}` is its key)."""

OFFER_TEXT = "Would you rather go on in English? Then say yes or press 1."
"""Said, in this language, to a caller who speaks it on a number of another language."""

SWITCH_TEXT = "For English, press star."
"""Said to a caller greeted in another, remembered language."""

FAULT_APOLOGY = "I'm sorry, something went wrong on our side. Let me connect you with an agent."
"""Said after a fault of ours when a prompts file has no `system_error` of its own."""
FAULT_NOBODY_FREE = "I'm sorry, nobody is free to take your call right now. Please call back later. Goodbye."
"""The hand-off after a fault reached nobody."""
FAULT_GOODBYE = "Goodbye."
"""A webhook for a call that is already over."""

ON_DAY = "on {0}"
"""A weekday in a sentence ("on Friday")."""
ON_DATE = "on {0}"
"""A date in a sentence ("on December 4")."""
DAY_AND_DATE: str | None = None
"""A weekday and its date as said aloud; None: CLDR's written pattern."""

SURVEY_ASK = (
    "Before you go, please stay on for one question. How happy are you with this call,"
    " from 1 to 5? You can press or say a number."
)
"""The question, when a prompts file has no `survey_ask` of its own."""

SURVEY_NOT_A_SCORE = "Sorry, please answer with a number from 1 to 5."
"""Said once when the answer was not 1 to 5."""

SURVEY_THANKS = "Thank you for your answer."
"""After the answer (or the second miss), before the goodbye."""
