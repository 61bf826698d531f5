"""What teaching the line a phrase costs, and what telling a sentence's language costs.

The insights page's "Add as a phrase" compiles the draft twice and cross-validates each
served language's phrases (five models a language) before, and the taught one after
(`ivr.console.teaching.learn`): CPU work run in a thread, so the numbers to know are how long
a supervisor waits and how much CPU it takes from the calls. The language offer reads every
menu answer not understood once more (`LanguageChoice.spoken`), and each engine builds its
languages' word sets once (`vocabulary`).

    python benchmarks/teaching.py            # a table
    python benchmarks/teaching.py --json

Medians of a few runs, wall and CPU time of this process, the models' cache emptied before
each (a new phrase is always a new model). The machine may be shared: compare runs side by side.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ivr.console.teaching import learn
from ivr.flow.files import CompiledFlow, FlowFiles, compile_files, read_files
from ivr.flow.language_choice import LanguageChoice, vocabulary
from ivr.flow.matching import IntentMatcher, _train
from ivr.languages import LanguagePlan

ROOT = Path(__file__).resolve().parent.parent
LANGUAGES = ("en", "de", "sv")
SENTENCES = (
    "I'm still waiting for my repair",
    "Ich warte immer noch auf meine Reparatur",
    "jag väntar fortfarande på min reparation",
    "purple elephants",
)


def timed(work: Callable[[], object], runs: int) -> tuple[float, float]:
    """Median (wall, CPU) seconds of `runs` runs."""
    walls, cpus = [], []
    for _ in range(runs):
        _train.cache_clear()
        wall, cpu = time.perf_counter(), time.process_time()
        work()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    files = read_files(ROOT / "flows" / "support.yaml", ROOT / "prompts")

    def compile_flow(draft: FlowFiles) -> CompiledFlow:
        return compile_files(draft, language="en", languages=LANGUAGES)

    compiled = compile_files(files, language="en", languages=LANGUAGES)
    teach = timed(
        lambda: learn(compile_flow, files, "order_status", "en", "my gizmo went walkabout", LANGUAGES),
        args.runs,
    )
    phrases = {code: IntentMatcher(compiled.flow.intents, code).phrases for code in LANGUAGES}
    words = {code: vocabulary(compiled.catalogs[code], phrases[code]) for code in LANGUAGES}
    build = timed(
        lambda: {code: vocabulary(compiled.catalogs[code], phrases[code]) for code in LANGUAGES}, args.runs
    )
    choice = LanguageChoice(LanguagePlan(LANGUAGES), compiled.catalogs, words, date.today)
    rounds = 2000
    start = time.perf_counter()
    for _ in range(rounds):
        for sentence in SENTENCES:
            choice.spoken(sentence, least=2)
    per_sentence = (time.perf_counter() - start) / (rounds * len(SENTENCES))
    result = {
        "teach_wall_s": round(teach[0], 3),
        "teach_cpu_s": round(teach[1], 3),
        "word_sets_wall_s": round(build[0], 3),
        "spoken_per_sentence_us": round(per_sentence * 1e6, 1),
    }
    if args.json:
        print(json.dumps(result))
        return
    print(f"teach one phrase (3 languages cross-validated): {teach[0]:.2f} s wall, {teach[1]:.2f} s CPU")
    print(f"word sets of 3 languages, once per engine:      {build[0] * 1000:.1f} ms")
    print(f"a sentence's language:                          {per_sentence * 1e6:.1f} µs")


if __name__ == "__main__":
    main()
