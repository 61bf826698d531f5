"""How well a flow's intents understand callers, measured the way `rasa test nlu` reports it.

A supervisor who adds a phrase, or a developer who changes the model, needs a number that
cannot flatter: sentences kept apart from the training phrases, labelled with the intent
they mean (`none` for what the line does not answer), scored by the same decision the line
takes. The report gives the share routed right per language and per intent, a confusion
table and every sentence it got wrong. Without labelled sentences, the flow's own phrases
are cross-validated: each fifth is held out in turn and predicted by a model trained on
the rest, which says at least where the phrase lists are too thin.

A sentence counts as routed right when the likeliest intent is the labelled one and at least
`LOW` sure (the caller gets there, at once or after one "yes"), or, for `none`, when
nothing is that sure.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from ivr.flow.matching import HIGH, LOW, IntentMatcher
from ivr.flow.schema import Intent

NONE = "none"
"""The label of a sentence no intent should take (off-topic, or too vague to act on)."""
FOLDS = 5
_LANGUAGE = re.compile(r"_([a-z]{2,3})$")


@dataclass(frozen=True, slots=True)
class Verdict:
    text: str
    expected: str
    got: str
    confidence: float

    @property
    def right(self) -> bool:
        return self.expected == self.got


@dataclass(frozen=True, slots=True)
class Report:
    """One language's verdicts, and what a reader wants of them."""

    language: str
    source: str
    """Where the sentences came from: a file, or the flow's phrases cross-validated."""
    verdicts: tuple[Verdict, ...] = field(default_factory=tuple)

    @property
    def accuracy(self) -> float:
        return sum(v.right for v in self.verdicts) / len(self.verdicts) if self.verdicts else 0.0

    @property
    def direct(self) -> float:
        """The share answered at once (sure from HIGH on), of those routed right to an intent."""
        right = [v for v in self.verdicts if v.right and v.expected != NONE]
        return sum(v.confidence >= HIGH for v in right) / len(right) if right else 0.0

    def per_intent(self) -> dict[str, tuple[int, int]]:
        """Intent → (routed right, sentences), in the order the labels first appear."""
        out: dict[str, tuple[int, int]] = {}
        for v in self.verdicts:
            right, total = out.get(v.expected, (0, 0))
            out[v.expected] = (right + v.right, total + 1)
        return out

    def confusion(self) -> Counter[tuple[str, str]]:
        return Counter((v.expected, v.got) for v in self.verdicts)

    def wrong(self) -> list[Verdict]:
        return [v for v in self.verdicts if not v.right]


def decide(matcher: IntentMatcher, text: str) -> tuple[str, float]:
    """The intent the line takes `text` for (NONE below LOW), and how sure it is."""
    ranked = matcher.ranked(text)
    if not ranked:
        return NONE, 0.0
    top = ranked[0]
    return (top.intent if top.confidence >= LOW else NONE), top.confidence


def evaluate(
    intents: Sequence[Intent], language: str, sentences: Iterable[tuple[str, str]], source: str
) -> Report:
    matcher = IntentMatcher(intents, language)
    verdicts = tuple(Verdict(text, label, *decide(matcher, text)) for text, label in sentences)
    return Report(language, source, verdicts)


def cross_validate(intents: Sequence[Intent], language: str, folds: int = FOLDS) -> Report:
    """Each phrase predicted by a model trained on the other folds' phrases (every `folds`-th
    phrase of each intent held out together)."""
    verdicts: list[Verdict] = []
    for fold in range(folds):
        kept = [
            replace(i, phrases={language: tuple(p for n, p in enumerate(listed) if n % folds != fold)})
            for i in intents
            if (listed := i.phrases.get(language, ()))
        ]
        matcher = IntentMatcher(kept, language)
        for intent in intents:
            for n, phrase in enumerate(intent.phrases.get(language, ())):
                if n % folds == fold:
                    verdicts.append(Verdict(phrase, intent.name, *decide(matcher, phrase)))
    return Report(language, f"{folds}-fold cross-validation of the flow's phrases", tuple(verdicts))


def read_sentences(path: Path) -> tuple[str, list[tuple[str, str]]]:
    """(language, [(sentence, intent)]) from a YAML file named `<anything>_<language>.yaml`
    that maps each intent (or `none`) to its sentences."""
    found = _LANGUAGE.search(path.stem)
    if not found:
        raise ValueError(f"{path}: name the file <anything>_<language>.yaml (callers_de.yaml)")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not all(isinstance(v, list) for v in data.values()):
        raise ValueError(f"{path}: map each intent (or 'none') to a list of sentences")
    return found.group(1), [(str(text), str(label)) for label, texts in data.items() for text in texts]


def halves(sentences: Sequence[tuple[str, str]]) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(development, held-out test): alternate sentences of each intent. Thresholds, features
    and phrases are tuned on the first; only the second's figures are quoted."""
    seen: Counter[str] = Counter()
    development: list[tuple[str, str]] = []
    test: list[tuple[str, str]] = []
    for text, label in sentences:
        (development if seen[label] % 2 == 0 else test).append((text, label))
        seen[label] += 1
    return development, test


def as_text(reports: Sequence[Report]) -> str:
    """The reports as a reader wants them in a terminal."""
    lines: list[str] = []
    for report in reports:
        count = len(report.verdicts)
        lines.append(
            f"{report.language}: {report.accuracy:.1%} routed right of {count} ({report.source}); "
            f"{report.direct:.0%} of those answered without a confirmation question"
        )
        for intent, (right, total) in report.per_intent().items():
            lines.append(f"  {intent:<18} {right / total:6.1%}  ({right}/{total})")
        labels = list(report.per_intent())
        labels += sorted({v.got for v in report.verdicts} - set(labels))
        width = max(len(label) for label in labels) + 4
        lines.append("  confusion (rows: labelled; columns: taken for, numbered as the rows)")
        lines.append("  " + " " * width + "".join(f"{n:>5}" for n in range(1, len(labels) + 1)))
        table = report.confusion()
        for n, label in enumerate(labels, 1):
            cells = "".join(f"{table[(label, other)] or '.':>5}" for other in labels)
            lines.append(f"  {f'{n:>2} {label}':<{width}}{cells}")
        wrong = report.wrong()
        if wrong:
            lines.append("  wrong:")
            lines += [f"    {v.text!r}: {v.got} ({v.confidence:.2f}), labelled {v.expected}" for v in wrong]
        lines.append("")
    return "\n".join(lines)


def as_json(reports: Sequence[Report]) -> list[Mapping[str, Any]]:
    return [
        {
            "language": r.language,
            "source": r.source,
            "sentences": len(r.verdicts),
            "accuracy": round(r.accuracy, 4),
            "direct": round(r.direct, 4),
            "intents": {i: {"right": a, "total": b} for i, (a, b) in r.per_intent().items()},
            "confusion": [
                {"labelled": e, "taken_for": g, "count": n} for (e, g), n in sorted(r.confusion().items())
            ],
            "wrong": [
                {
                    "text": v.text,
                    "labelled": v.expected,
                    "taken_for": v.got,
                    "confidence": round(v.confidence, 3),
                }
                for v in r.wrong()
            ],
        }
        for r in reports
    ]
