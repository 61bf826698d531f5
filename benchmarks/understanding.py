"""Which intent model understands callers best: candidates measured on a held-out split.

The labelled caller sentences (tests/data/callers_<language>.yaml, kept apart from the flow's
training phrases) are split in two halves, alternating within each intent
(`ivr.flow.evaluation.halves`): each candidate's confidence threshold is chosen on the
development half, and the figures quoted are those of the test half, which nothing was tuned
on. Every candidate trains on the same phrases of flows/support.yaml and, but for the
baseline, sees the same features (Snowball stems, German and Swedish compounds split, word
pairs, character 4-grams: `ivr.flow.matching.features`):

- `before`: the earlier hand-made matcher (filler lists, a few endings, `rapidfuzz` word by
  word), as on `--baseline` (git revision, default main) with that revision's phrases; left
  out if the revision or `rapidfuzz` is not at hand;
- `naive-bayes`: multinomial naive Bayes (Laplace smoothing), its posterior as confidence;
- `nearest-phrase`: the training phrase with the highest cosine similarity, as confidence;
- `logistic` (the line's): multinomial logistic regression, `ivr.flow.matching.IntentMatcher`.

    python benchmarks/understanding.py            # a table
    python benchmarks/understanding.py --json

Also timed: training all three languages, and classifying one sentence.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ivr.flow import evaluation, matching
from ivr.flow.loader import load_flow, parse_flow
from ivr.flow.schema import Intent
from ivr.prompts import PromptCatalog, load_catalogs
from ivr.yamlsource import load_text

ROOT = Path(__file__).resolve().parent.parent
LANGUAGES = ("en", "de", "sv")
THRESHOLDS = tuple(round(0.05 * n, 2) for n in range(0, 20))
Decide = Callable[[str], tuple[str, float]]
"""A trained candidate: a sentence → (intent or `none`, confidence); thresholded by the caller."""


def _featurised(
    intents: Sequence[Intent], language: str
) -> tuple[list[tuple[str, Counter[str]]], frozenset[str]]:
    phrases = [
        (intent.name, stems)
        for intent in intents
        for phrase in intent.phrases.get(language, ())
        if (stems := matching.normalised(phrase, language))
    ]
    known = frozenset(s for _, stems in phrases for s in stems)
    return [(name, Counter(matching.features(stems, known, language))) for name, stems in phrases], known


def naive_bayes(intents: Sequence[Intent], language: str) -> Decide:
    phrases, known = _featurised(intents, language)
    vocabulary = {f for _, counts in phrases for f in counts}
    totals: dict[str, Counter[str]] = {}
    for name, counts in phrases:
        totals.setdefault(name, Counter()).update(counts)
    prior = Counter(name for name, _ in phrases)

    def decide(text: str) -> tuple[str, float]:
        said = [
            f
            for f in matching.features(matching.normalised(text, language), known, language)
            if f in vocabulary
        ]
        if not any(f.startswith("w:") for f in said):
            return evaluation.NONE, 0.0
        scores = {}
        for name, counts in totals.items():
            size = sum(counts.values()) + len(vocabulary)
            scores[name] = math.log(prior[name]) + sum(math.log((counts[f] + 1) / size) for f in said)
        top = max(scores.values())
        weights = {name: math.exp(score - top) for name, score in scores.items()}
        best = max(weights, key=weights.__getitem__)
        return best, weights[best] / sum(weights.values())

    return decide


def nearest_phrase(intents: Sequence[Intent], language: str) -> Decide:
    phrases, known = _featurised(intents, language)
    norms = [math.sqrt(sum(v * v for v in counts.values())) for _, counts in phrases]

    def decide(text: str) -> tuple[str, float]:
        said = Counter(matching.features(matching.normalised(text, language), known, language))
        length = math.sqrt(sum(v * v for v in said.values()))
        if not length:
            return evaluation.NONE, 0.0
        best, similarity = evaluation.NONE, 0.0
        for (name, counts), norm in zip(phrases, norms, strict=True):
            cosine = sum(said[f] * counts[f] for f in said if f in counts) / (length * norm)
            if cosine > similarity:
                best, similarity = name, cosine
        return best, similarity

    return decide


def logistic(intents: Sequence[Intent], language: str) -> Decide:
    matcher = matching.IntentMatcher(intents, language)

    def decide(text: str) -> tuple[str, float]:
        ranked = matcher.ranked(text)
        return (ranked[0].intent, ranked[0].confidence) if ranked else (evaluation.NONE, 0.0)

    return decide


def _from_git(revision: str, path: str) -> str | None:
    shown = subprocess.run(["git", "show", f"{revision}:{path}"], cwd=ROOT, capture_output=True, text=True)
    return shown.stdout if shown.returncode == 0 else None


def before(revision: str, catalogs: Mapping[str, PromptCatalog]) -> Callable[[str], Decide] | None:
    """The earlier matcher with that revision's phrases; None if either is not at hand."""
    source, flow_text = _from_git(revision, "ivr/flow/matching.py"), _from_git(revision, "flows/support.yaml")
    if source is None or flow_text is None or importlib.util.find_spec("rapidfuzz") is None:
        return None
    folder = Path(tempfile.mkdtemp())
    (folder / "earlier_matching.py").write_text(source)
    spec = importlib.util.spec_from_file_location("earlier_matching", folder / "earlier_matching.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    flow, _ = parse_flow(load_text(flow_text, "support.yaml"), catalogs)

    def trained(language: str) -> Decide:
        matcher = module.IntentMatcher(flow.intents, language)

        def decide(text: str) -> tuple[str, float]:
            found = matcher.match(text)
            return (found.intent, 1.0) if found is not None else (evaluation.NONE, 0.0)

        return decide

    return trained


def accuracy(decide: Decide, sentences: Sequence[tuple[str, str]], threshold: float) -> float:
    right = 0
    for text, label in sentences:
        intent, confidence = decide(text)
        right += (intent if confidence >= threshold else evaluation.NONE) == label
    return right / len(sentences)


def measure(
    name: str,
    train: Callable[[str], Decide],
    halves: dict[str, tuple[list[tuple[str, str]], list[tuple[str, str]]]],
) -> dict[str, object]:
    started = time.perf_counter()
    trained = {language: train(language) for language in LANGUAGES}
    training = time.perf_counter() - started
    result: dict[str, object] = {"model": name, "train_ms": round(training * 1000, 1)}
    for language, (development, test) in halves.items():
        decide = trained[language]
        threshold = max(THRESHOLDS, key=lambda t: (accuracy(decide, development, t), -abs(t - 0.4)))
        result[language] = {
            "threshold": threshold,
            "development": round(accuracy(decide, development, threshold), 4),
            "test": round(accuracy(decide, test, threshold), 4),
        }
    sentence = "Ich warte jetzt schon seit drei Wochen auf meinen Kühlschrank, wo bleibt der?"
    started = time.perf_counter()
    for _ in range(200):
        trained["de"](sentence)
    result["classify_ms"] = round((time.perf_counter() - started) / 200 * 1000, 3)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--baseline", default="main", help="git revision of the earlier matcher (default: main)"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    catalogs = load_catalogs(ROOT / "prompts")
    flow, _ = load_flow(ROOT / "flows" / "support.yaml", catalogs)
    halves = {
        language: evaluation.halves(
            evaluation.read_sentences(ROOT / "tests" / "data" / f"callers_{language}.yaml")[1]
        )
        for language in LANGUAGES
    }
    candidates: list[tuple[str, Callable[[str], Decide]]] = []
    earlier = before(args.baseline, catalogs)
    if earlier is not None:
        candidates.append(("before", earlier))
    candidates += [
        ("naive-bayes", lambda language: naive_bayes(flow.intents, language)),
        ("nearest-phrase", lambda language: nearest_phrase(flow.intents, language)),
    ]
    matching._train.cache_clear()
    candidates.append(("logistic", lambda language: logistic(flow.intents, language)))
    results = [measure(name, train, halves) for name, train in candidates]
    if args.json:
        print(json.dumps(results, indent=2))
        return
    heads = "".join(f"{language + ' dev/test':>14}" for language in LANGUAGES)
    print(f"{'model':<15}{heads} {'train ms':>9} {'classify ms':>12}")
    for r in results:
        cells = " ".join(
            f"{r[lang]['development']:>6.1%}/{r[lang]['test']:<6.1%}"  # type: ignore[index]
            for lang in LANGUAGES
        )
        print(f"{r['model']:<15} {cells} {r['train_ms']:>9} {r['classify_ms']:>12}")


if __name__ == "__main__":
    main()
