"""Understanding what a caller says: menu words, and requests in their own words.

Two layers, both compiled once when a flow loads. A menu's own words pick its options
("order status", "warrenty" as a near miss). A flow's intents (phrase lists a supervisor
edits, per language) take a caller straight to an answer from anything they say: "I want
to return my blender" names the returns answer, so it goes there rather than to a menu of
questions. Phrases are compared word by word with `rapidfuzz`, after dropping filler words
and plain English endings, so word order, filler and small slips ("retrun") do not matter.
tests/data/utterances_en.yaml measures how often it routes real-sounding requests right.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from rapidfuzz import fuzz

from ivr.flow.schema import Intent, MenuState
from ivr.speech.number_words import reading

_WORDS = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
REPEAT_WORDS = ("repeat", "repeat that", "say that again", "say again", "again", "what", "pardon")
"""Said alone (or with "please") in a menu that repeats: say the last answer again."""
REPEAT_WORDS_BY_LANGUAGE: Mapping[str, tuple[str, ...]] = {
    "en": REPEAT_WORDS,
    "de": ("wiederholen", "bitte wiederholen", "noch einmal", "nochmal", "noch mal", "wie bitte", "was"),
    "sv": ("upprepa", "igen", "en gång till", "höra det igen", "säg det igen", "förlåt", "vad sa du", "va"),
}
"""The same, per language (a language not listed takes the English words)."""
FUZZY_CUTOFF = 82.0
"""Similarity (0-100) from which two words count as the same: 'retrun' and 'return' do,
'order' and 'older' do not."""
_ENGLISH_FILLER = (
    "a an the i i'm im me my mine we our us you your it its it's is are was were be been am "
    "to of for on in at by with from about this that these those there here so just um uh "
    "er hmm well hi hello hey please thanks thank would like want wanted need needs "
    "can could do does did have has had get got some any and or but if then also "
    "calling call know tell find out check see"
)
_GERMAN_FILLER = (
    "ich mich mir mein meine meinen meinem meiner meines wir uns unser unsere sie ihr ihre ihren "
    "ihrem ihnen es der die das den dem des ein eine einen einem einer eines ist sind war bin in "
    "wurde worden zu zum zur von vom für auf im am an bei beim mit aus über um so nur äh ähm hm "
    "ach also hallo guten tag bitte danke möchte möchten würde hätte gern gerne will wollte "
    "brauche kann könnte können habe hat haben und oder aber dann auch mal doch denn schon "
    "anrufen rufe an wegen wissen wüsste sagen nachfragen geht"
)
_SWEDISH_FILLER = (
    "jag mig min mitt mina vi oss vår vårt våra du dig din ditt dina ni er ert era det den de "
    "dem en ett är att av för på till med från om så bara eh öh hmm mm hej hallå tack snälla "
    "skulle vill ville kan kunde har hade ha och eller men också ringer ringde ringa veta "
    "undrar undra fråga säga gäller alltså lite"
)
FILLER: Mapping[str, frozenset[str]] = {
    "en": frozenset(_ENGLISH_FILLER.split()),
    "de": frozenset(_GERMAN_FILLER.split()),
    "sv": frozenset(_SWEDISH_FILLER.split()),
}
"""Words that say nothing about what a caller wants, per language."""
ENDINGS: Mapping[str, tuple[str, ...]] = {
    "en": ("ing", "ed", "es", "s"),
    "de": ("ungen", "en", "er", "em", "es", "e", "n", "s"),
    "sv": ("arna", "erna", "orna", "en", "et", "na", "ar", "er", "or", "n"),
}
"""Plain inflection endings per language, taken off before comparing words: 'Bestellungen' says
'Bestellung', 'paketet' says 'paket'. Crude on purpose: near misses are left to the fuzzy match."""


def words(text: str) -> list[str]:
    return _WORDS.findall(text.lower())


def _stem(word: str, language: str = "en") -> str:
    """A plain ending off: 'returned', 'returning', 'returns' all say 'return'."""
    word = word.removesuffix("'s")
    for ending in ENDINGS.get(language, ENDINGS["en"]):
        if len(word) - len(ending) >= 3 and word.endswith(ending):
            stem = word[: -len(ending)]
            if language != "en":
                return stem
            # 'setting' -> 'set', 'stopped' -> 'stop'; 'ss' stays ('address' -> 'address')
            return stem[:-1] if len(ending) > 1 and stem[-1] == stem[-2] != "s" else stem
    return word


def content(text: str, language: str = "en") -> tuple[str, ...]:
    """The words of `text` that carry meaning, stemmed."""
    filler = FILLER.get(language, frozenset())
    return tuple(_stem(w, language) for w in words(text) if w not in filler)


def _same(said: str, listed: str) -> float:
    """How alike a said word and a listed word are (0-100); short words must be exact."""
    if said == listed:
        return 100.0
    if len(listed) < 4 or len(said) < 3:
        return 0.0
    return fuzz.ratio(said, listed)


@dataclass(frozen=True, slots=True)
class IntentMatch:
    intent: str
    goto: str
    words: int
    """How many meaningful words the intent's matching phrases cover: the more, the surer."""
    score: float


@dataclass(frozen=True, slots=True)
class _Phrase:
    intent: Intent
    words: tuple[str, ...]


class IntentMatcher:
    """A flow's intents for one language, ready to match what callers say."""

    def __init__(self, intents: Iterable[Intent], language: str = "en") -> None:
        intents = tuple(intents)
        self.language = language
        self._phrases = [
            _Phrase(intent, tokens)
            for intent in intents
            for phrase in intent.phrases.get(language, ())
            if (tokens := content(phrase, language))
        ]
        self.vocabulary = tuple(sorted({w for p in self._phrases for w in p.words}))
        """Every meaningful word the intents listen for, stemmed as matching compares them."""
        self.phrases = tuple(dict.fromkeys(p for intent in intents for p in intent.phrases.get(language, ())))
        """The intents' phrases as written: recognition hints, and the words of a Vosk grammar."""

    def match(self, text: str) -> IntentMatch | None:
        """The intent whose phrases, each matched whole, cover most of what was said (on a
        tie, the one named first: "return the blender I bought" is a return); None if no
        phrase matches."""
        said = content(text, self.language)
        if not said:
            return None
        seen: dict[str, float] = {}
        first: dict[str, int] = {}  # where a listed word was first heard: callers name their aim early
        for word in self.vocabulary:
            scores = [_same(s, word) for s in said]
            seen[word] = max(scores)
            first[word] = next((i for i, score in enumerate(scores) if score >= FUZZY_CUTOFF), len(said))
        covered: dict[str, set[str]] = {}
        intents: dict[str, Intent] = {}
        for phrase in self._phrases:
            if min(seen[w] for w in phrase.words) >= FUZZY_CUTOFF:
                covered.setdefault(phrase.intent.name, set()).update(phrase.words)
                intents[phrase.intent.name] = phrase.intent
        best: tuple[int, int, float] | None = None
        chosen: IntentMatch | None = None
        for name, listed in covered.items():  # in the flow's order: on a full tie the first wins
            score = sum(seen[w] for w in listed) / len(listed)
            rank = (len(listed), -min(first[w] for w in listed), score)
            if best is None or rank > best:
                best, chosen = rank, IntentMatch(name, intents[name].goto, len(listed), score)
        return chosen


@dataclass(frozen=True, slots=True)
class Choice:
    """What a spoken answer picks in a menu: an option's key, or an intent."""

    key: str | None = None
    intent: IntentMatch | None = None


def choose(state: MenuState, text: str, intents: IntentMatcher | None, language: str = "en") -> Choice:
    """The option or intent a spoken answer picks in a menu; an empty Choice if nothing does.

    A menu's own listed phrase (plain endings aside: 'repairs' says 'repair') wins (longest
    first, so 'order status' beats 'status') unless
    an intent matches more meaningful words: "yes" at "are you calling about order 4512?"
    picks yes, "I want to return my blender" at the main menu picks the returns answer.
    Then a key named aloud ("two", "pound", or "zero" for an agent where the menu offers
    one) in a short answer that names only one; then a word within a small edit distance
    of a single-word phrase ('warrenty').
    """
    said = words(text)
    padded = f" {' '.join(_stem(w, language) for w in said)} "
    option: tuple[int, int, str] | None = None
    for opt in state.options:
        for phrase in opt.words_in(language):
            if f" {' '.join(_stem(w, language) for w in words(phrase))} " in padded:
                rank = (len(content(phrase, language)) or 1, len(phrase), opt.key)
                option = rank if option is None or rank[:2] > option[:2] else option
    found = intents.match(text) if intents is not None and state.intents else None
    if found is not None and (option is None or found.words > option[0]):
        return Choice(intent=found)
    if option is not None:
        return Choice(key=option[2])
    choices = {opt.key for opt in state.options} | ({"0"} if state.agent else set())
    key_words = reading(language).key_words
    named = [key for word in said if (key := key_words.get(word, word)) in choices]
    if len(said) <= 3 and len(named) == 1:
        return Choice(key=named[0])
    for word in said:
        for opt in state.options:
            single = [p for p in opt.words_in(language) if " " not in p and len(p) >= 4]
            if difflib.get_close_matches(word, single, n=1, cutoff=0.8):
                return Choice(key=opt.key)
    return Choice()


def mentions(text: str, phrases: Iterable[str]) -> bool:
    padded = f" {' '.join(words(text))} "
    return any(f" {phrase} " in padded for phrase in phrases)


_KEY = r"(?P<key>\d|star|pound)"
_CHOICE = r"(?P<words>[a-z' ]+?)"
_NAMED_CHOICES = (
    re.compile(rf"\b(?:for|to) {_CHOICE},? press {_KEY}\b"),
    re.compile(rf"\b(?:press )?{_KEY},? (?:for|to) {_CHOICE}(?=[,.;?!]|$| or\b| and\b)"),
)
_SPOKEN_KEYS = {"star": "*", "pound": "#", "sterntaste": "*", "raute": "#", "stjärna": "*", "fyrkant": "#"}
_ARTICLES = re.compile(r"^(?:the|an|a|your|our) ")
_WORD_CHOICE = r"(?P<words>[^\W\d_][^\W\d_' ]*(?: [^\W\d_]+)*?)"
_NAMED_CHOICES_IN: Mapping[str, tuple[re.Pattern[str], ...]] = {
    "en": _NAMED_CHOICES,
    # "drücken Sie die 1 für Bestellungen", "die 2 für Reparaturen", "zum Hauptmenü die 1"
    "de": (
        re.compile(
            rf"\b(?:die )?(?P<key>\d|sterntaste|raute) für {_WORD_CHOICE}(?=[,.;?!]|$| oder\b| und\b)"
        ),
        re.compile(
            rf"\b(?:für|zum|zur) {_WORD_CHOICE},? (?:drücken sie )?die (?P<key>\d|sterntaste|raute)\b"
        ),
    ),
    # "tryck 1 för beställningar", "2 för reparationer", "för huvudmenyn, tryck 2"
    "sv": (
        re.compile(rf"\b(?P<key>\d|stjärna|fyrkant) för {_WORD_CHOICE}(?=[,.;?!]|$| eller\b| och\b)"),
        re.compile(rf"\bför {_WORD_CHOICE},? tryck (?P<key>\d|stjärna|fyrkant)\b"),
    ),
}
_CONJUNCTIONS = frozenset({"oder", "und", "eller", "och"})
"""A German or Swedish choice never spans these: a match across one is two choices misread."""
_ARTICLES_IN: Mapping[str, re.Pattern[str]] = {
    "en": _ARTICLES,
    "de": re.compile(r"^(?:der|die|das|den|dem|einen|eine|ein|ihre|ihren|unsere) "),
    "sv": re.compile(r"^(?:att|en|ett|din|ditt|dina|våra|vår) "),
}


def named_choices(prompt: str, language: str = "en") -> list[tuple[str, str]]:
    """(key, words) for each choice a menu prompt names: 'press 1 for orders', 'for returns,
    press 4', '2 for repairs', 'or 0 for an agent'; in German 'die 2 für Reparaturen', in
    Swedish '2 för reparationer'. A language not listed names none that can be checked."""
    found: dict[str, str] = {}
    articles = _ARTICLES_IN.get(language, _ARTICLES)
    for pattern in _NAMED_CHOICES_IN.get(language, ()):
        for m in pattern.finditer(prompt.lower()):
            phrase = articles.sub("", m.group("words").strip(" '"))
            if phrase and not set(phrase.split()) & _CONJUNCTIONS:  # "zum Wiederholen oder die 9"
                found.setdefault(_SPOKEN_KEYS.get(m.group("key"), m.group("key")), phrase)
    return sorted(found.items())
