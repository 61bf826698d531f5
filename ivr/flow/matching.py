"""Understanding what a caller says: menu words, and requests in their own words.

Two layers, both compiled once when a flow loads. A menu's own words pick its options
("order status", "warrenty" as a near miss). A flow's intents (phrase lists a supervisor
edits, per language) take a caller straight to an answer from anything they say: "I want
to return my blender" names the returns answer, so it goes there rather than to a menu of
questions. The intents are a classifier trained on their phrases (Snowball stems, compounds
split, character n-grams), whose probability says how sure it is: sure enough to answer,
unsure enough to ask "Is this about …?", or not at all. tests/data/callers_<language>.yaml,
sentences kept apart from the phrases, measure how often it routes real callers right.
"""

from __future__ import annotations

import difflib
import functools
import itertools
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import snowballstemmer

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
MAIN_MENU_WORDS: Mapping[str, tuple[str, ...]] = {
    "en": ("main menu", "menu", "go back", "back", "start again", "start over"),
    "de": ("hauptmenü", "menü", "zurück", "zurückgehen", "von vorne", "nochmal von vorn", "anfang"),
    "sv": ("huvudmenyn", "huvudmeny", "menyn", "meny", "tillbaka", "gå tillbaka", "börja om", "början"),
}
"""Said as the whole answer at any question: leave it for the flow's main menu."""
YES_WORDS: Mapping[str, tuple[str, ...]] = {
    "en": ("yes", "yeah", "yep", "yup", "sure", "correct", "right", "that's right", "exactly", "it is"),
    "de": ("ja", "jawohl", "genau", "richtig", "stimmt", "korrekt", "jep", "klar", "sicher"),
    "sv": ("ja", "japp", "jajamen", "precis", "visst", "stämmer", "absolut", "just det", "korrekt"),
}
NO_WORDS: Mapping[str, tuple[str, ...]] = {
    "en": ("no", "nope", "nah", "not really", "wrong", "not that", "isn't", "it isn't"),
    "de": ("nein", "nee", "ne", "nö", "falsch", "nicht", "eben nicht"),
    "sv": ("nej", "nä", "näe", "nää", "fel", "inte", "inte det"),
}
"""The answers to "Is this about …?" (a language not listed takes the English words)."""
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
    "undrar undra säga gäller alltså lite"
)
FILLER: Mapping[str, frozenset[str]] = {
    "en": frozenset(_ENGLISH_FILLER.split()),
    "de": frozenset(_GERMAN_FILLER.split()),
    "sv": frozenset(_SWEDISH_FILLER.split()),
}
"""Words that say nothing about what a caller wants, per language."""


def words(text: str) -> list[str]:
    return _WORDS.findall(text.lower())


STEMMERS: Mapping[str, str] = {"en": "english", "de": "german", "sv": "swedish"}
"""Snowball's stemmer for each language the line speaks; another language keeps its words whole."""
COMPOUNDING = frozenset({"de", "sv"})
"""Languages that write compounds as one word ('Wartungspaket'); English 'homework' is no 'work'."""
_NGRAMS = (4,)
"""Character n-gram lengths taken from each word (with its edges): they carry a word's stem
through endings the stemmer does not know, small slips and the parts of compounds."""
HIGH = 0.55
"""From this probability a request goes straight to its answer (tuned on the labelled set's
development half, see benchmarks/understanding.py)."""
LOW = 0.40
"""From this probability up to HIGH the line asks "Is this about …?"; below it, nothing is
understood and the question is asked again."""
_EPOCHS = 40
_RATE = 15.0
_MOMENTUM = 0.9
_L2 = 1e-4
"""Training: enough steps to fit the phrases (an underfit model is unsure of everything, and
every request would be confirmed), chosen with the thresholds on the development half."""


@functools.lru_cache(maxsize=65536)
def _stem_word(word: str, language: str) -> str:
    algorithm = STEMMERS.get(language)
    return snowballstemmer.stemmer(algorithm).stemWord(word) if algorithm else word


def normalised(text: str, language: str) -> list[str]:
    """The meaningful words of `text` by Snowball's stem: 'Bestellungen' and 'bestellt' say
    'bestell'. Numbers are left out: an order number says nothing about what is wanted."""
    filler = FILLER.get(language, frozenset())
    return [_stem_word(w, language) for w in words(text) if w not in filler and not w.isdigit()]


def _split(stem: str, known: frozenset[str], language: str) -> list[str]:
    """A German or Swedish compound the training phrases do not have, in parts they do:
    'wartungspak' (Wartungspaket) is 'wartung' + 'pak', 'serviceabonnemanget' 'service' +
    'abonnemang'. Tried at every cut, with a linking s ('Wartungs-'), the longest known head
    first; failing two known parts, a known head ('garantiestand': 'garantie') or tail
    ('abluftschlauch': 'schlauch') of four letters or more; [] if none is known."""
    if stem in known or len(stem) < 7:
        return []
    heads: list[str] = []
    for cut in range(len(stem) - 3, 2, -1):
        head, tail = stem[:cut], stem[cut:]
        found = next((h for h in (head, head.removesuffix("s")) if h in known), None)
        if found is None:
            continue
        rest = tail if tail in known else _stem_word(tail, language)
        if rest in known:
            return [found, rest]
        deeper = _split(tail, known, language)
        if deeper:
            return [found, *deeper]
        heads.append(found)
    if heads and len(heads[0]) >= 4:
        return heads[:1]
    tails = (stem[cut:] for cut in range(3, len(stem) - 3))  # the longest first
    return next(([tail] for tail in tails if tail in known), [])


def features(stems: list[str], known: frozenset[str], language: str) -> list[str]:
    """What the model sees of a sentence: each stem (and the parts of a compound made of known
    stems), each pair of neighbouring stems, and each stem's character n-grams."""
    parts: list[str] = []
    for stem in stems:
        parts.append(stem)
        if language in COMPOUNDING:
            parts.extend(_split(stem, known, language))
    out = [f"w:{p}" for p in parts]
    out += [f"b:{a}_{b}" for a, b in itertools.pairwise(stems)]
    for stem in stems:
        edged = f"<{stem}>"
        out += [f"c:{edged[i : i + n]}" for n in _NGRAMS for i in range(len(edged) - n + 1)]
    return out


@dataclass(frozen=True, slots=True)
class IntentMatch:
    intent: str
    goto: str
    confidence: float
    """The model's probability (0-1) that this is what was meant."""


class IntentMatcher:
    """A flow's intents for one language: a multinomial logistic regression over words, word
    pairs and character n-grams of Snowball stems, trained on the flow's phrases when the flow
    loads (a few tens of milliseconds; the same phrases are trained once per process).

    Chosen by measurement against the earlier word-by-word fuzzy matcher, naive Bayes and
    nearest phrase (benchmarks/understanding.py; docs/flows.md, Understanding callers)."""

    def __init__(self, intents: Iterable[Intent], language: str = "en") -> None:
        intents = tuple(intents)
        self.language = language
        self.intents = tuple(i for i in intents if i.phrases.get(language))
        self.phrases = tuple(dict.fromkeys(p for intent in intents for p in intent.phrases.get(language, ())))
        """The intents' phrases as written: recognition hints, and the words of a Vosk grammar."""
        key = tuple((i.name, i.phrases.get(language, ())) for i in self.intents)
        self._model = _train(key, language)

    def ranked(self, text: str) -> list[IntentMatch]:
        """Every intent with its probability, the likeliest first; [] if nothing said is known."""
        model = self._model
        stems = normalised(text, self.language)
        said = features(stems, model.known, self.language)
        columns = [c for f in said if (c := model.columns.get(f)) is not None]
        if not any(f in model.columns for f in said if f.startswith("w:")):
            return []  # only pieces of unknown words ("purple elephants"): nothing to go on
        scores = model.bias + model.weights[columns].sum(axis=0) / math.sqrt(len(columns))
        scores = np.exp(scores - scores.max())
        probabilities = scores / scores.sum()
        order = np.argsort(-probabilities)
        return [
            IntentMatch(self.intents[i].name, self.intents[i].goto, float(probabilities[i])) for i in order
        ]

    def match(self, text: str) -> IntentMatch | None:
        """The likeliest intent, if it is at least LOW; None if nothing said points anywhere."""
        ranked = self.ranked(text)
        return ranked[0] if ranked and ranked[0].confidence >= LOW else None


@dataclass(frozen=True, slots=True)
class _Model:
    columns: Mapping[str, int]
    known: frozenset[str]
    weights: np.ndarray
    bias: np.ndarray


@functools.lru_cache(maxsize=64)
def _train(key: tuple[tuple[str, tuple[str, ...]], ...], language: str) -> _Model:
    """Fit the intents' phrases by full-batch gradient descent on the softmax loss (L2-regularised),
    over sparse binary features scaled by 1/sqrt(count), as `ranked` scores them."""
    phrases = [(label, normalised(p, language)) for label, (_, listed) in enumerate(key) for p in listed]
    phrases = [(label, stems) for label, stems in phrases if stems]
    known = frozenset(s for _, stems in phrases for s in stems)
    columns: dict[str, int] = {}
    rows, cols, scales, labels = [], [], [], []
    for row, (label, stems) in enumerate(phrases):
        found = sorted({columns.setdefault(f, len(columns)) for f in features(stems, known, language)})
        rows += [row] * len(found)
        cols += found
        scales.append(1 / math.sqrt(len(found)))
        labels.append(label)
    classes, size = len(key), len(columns)
    weights = np.zeros((size, classes))
    bias = np.zeros(classes)
    if not phrases or classes == 0:
        return _Model(columns, known, weights, bias)
    c = np.array(cols)
    starts = np.flatnonzero(np.diff(np.array(rows), prepend=-1))  # each phrase's first entry
    scale = np.array(scales)[:, None]  # 1/sqrt(features) of each phrase, as `ranked` scores
    by_column = np.argsort(c, kind="stable")  # every column occurs: one run per column
    column_starts = np.flatnonzero(np.diff(c[by_column], prepend=-1))
    row_of = np.array(rows)[by_column]
    target = np.zeros((len(phrases), classes))
    target[np.arange(len(phrases)), labels] = 1
    step_w, step_b = np.zeros_like(weights), np.zeros_like(bias)
    for _ in range(_EPOCHS):  # Nesterov's accelerated gradient on the mean softmax loss
        ahead_w, ahead_b = weights + _MOMENTUM * step_w, bias + _MOMENTUM * step_b
        scores = np.add.reduceat(ahead_w[c], starts, axis=0) * scale + ahead_b
        scores = np.exp(scores - scores.max(axis=1, keepdims=True))
        error = (scores / scores.sum(axis=1, keepdims=True) - target) / len(phrases)
        gradient = np.add.reduceat((error * scale)[row_of], column_starts, axis=0)
        step_w = _MOMENTUM * step_w - _RATE * (gradient + _L2 * ahead_w)
        step_b = _MOMENTUM * step_b - _RATE * error.sum(axis=0)
        weights, bias = weights + step_w, bias + step_b
    return _Model(columns, known, weights, bias)


@dataclass(frozen=True, slots=True)
class Choice:
    """What a spoken answer picks in a menu: an option's key, or an intent."""

    key: str | None = None
    intent: IntentMatch | None = None


def choose(
    state: MenuState,
    text: str,
    intents: IntentMatcher | None,
    language: str = "en",
    closing: frozenset[str] = frozenset(),
) -> Choice:
    """The option or intent a spoken answer picks in a menu; an empty Choice if nothing does.

    A menu's own listed phrase said as the whole answer wins ("yes", "another order", "no
    thanks, that's all"): nothing else was said that could mean more. Then a request the
    intent model recognises ("actually I want to return my blender"). Then a listed phrase
    inside a longer answer (longest first, so 'order status' beats 'status') - except for the
    `closing` keys (those that end the call): "done" in "is my vacuum done yet?" is no
    goodbye. Then a key named aloud ("two", "pound", or "zero" for an agent where the menu
    offers one) in a short answer that names only one; then a word within a small edit
    distance of a single-word phrase ('warrenty'; for a closing key, only as the one word said).
    """
    said = words(text)
    padded = f" {' '.join(_stem_word(w, language) for w in said)} "
    meant = set(normalised(text, language))
    whole: tuple[int, int, str] | None = None
    inside: tuple[int, int, str] | None = None
    for opt in state.options:
        listed = [[_stem_word(w, language) for w in words(p)] for p in opt.words_in(language)]
        own = {stem for phrase in listed for stem in phrase}
        for phrase, stems in zip(opt.words_in(language), listed, strict=True):
            if not stems or f" {' '.join(stems)} " not in padded:
                continue
            rank = (len(stems), len(phrase), opt.key)
            if meant <= own:
                whole = rank if whole is None or rank[:2] > whole[:2] else whole
            elif opt.key not in closing:
                inside = rank if inside is None or rank[:2] > inside[:2] else inside
    if whole is not None:
        return Choice(key=whole[2])
    found = intents.match(text) if intents is not None and state.intents else None
    if found is not None:
        return Choice(intent=found)
    if inside is not None:
        return Choice(key=inside[2])
    choices = {opt.key for opt in state.options} | ({"0"} if state.agent else set())
    key_words = reading(language).key_words
    named = [key for word in said if (key := key_words.get(word, word)) in choices]
    if len(said) <= 3 and len(named) == 1:
        return Choice(key=named[0])
    for word in said:
        for opt in state.options:
            if opt.key in closing and len(meant) > 1:
                continue  # a near miss ends a call only as the whole answer, like the word itself
            single = [p for p in opt.words_in(language) if " " not in p and len(p) >= 4]
            if difflib.get_close_matches(word, single, n=1, cutoff=0.8):
                return Choice(key=opt.key)
    return Choice()


def says_only(text: str, phrases: Iterable[str], language: str = "en") -> bool:
    """Whether `text` is nothing but (some of) `phrases`, filler and politeness aside: "go back
    please" is only "go back"; "I want my money back" is more than "back"."""
    said = set(normalised(text, language))
    listed = {stem for phrase in phrases for stem in (_stem_word(w, language) for w in words(phrase))}
    return bool(said) and said <= listed


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
