"""Editing one prompt keeps the supervisor's own line breaks: one changed word, one changed line
in the publish and rollback diffs (the paragraph used to be wrapped afresh)."""

from __future__ import annotations

import difflib

from ivr.console.prompt_text import set_prompt
from ivr.testing.demo_line import ROOT

EN = (ROOT / "prompts" / "en.yaml").read_text(encoding="utf-8")


def changed_lines(before: str, after: str) -> list[str]:
    return [
        line
        for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


def test_one_changed_word_is_one_changed_line() -> None:
    old = (
        "[{return_rights} ]You can return or exchange any product within 30 days of delivery. It must"
        " be complete and in its original packaging. Start a return on our website or ask an agent"
        " for a prepaid label. Refunds are issued within 5 business days after we receive the item."
    )
    after = set_prompt(EN, "faq.returns", old.replace("within 30 days", "within 60 days"))
    assert changed_lines(EN, after) == [
        "-      [{return_rights} ]You can return or exchange any product within 30 days of delivery. It must",
        "+      [{return_rights} ]You can return or exchange any product within 60 days of delivery. It must",
    ]


def test_a_line_grown_too_long_is_wrapped_and_the_others_are_kept() -> None:
    old = (
        "[{return_rights} ]You can return or exchange any product within 30 days of delivery. It must"
        " be complete and in its original packaging. Start a return on our website or ask an agent"
        " for a prepaid label. Refunds are issued within 5 business days after we receive the item."
    )
    longer = old.replace(
        "in its original packaging.", "in its original packaging, with every accessory and manual."
    )
    after = set_prompt(EN, "faq.returns", longer)
    changed = changed_lines(EN, after)
    assert (
        changed[0]
        == "-      be complete and in its original packaging. Start a return on our website or ask an agent"
    )
    assert all(len(line) <= 99 for line in changed), changed
    assert not any("Refunds are issued" in line for line in changed), "the line after is as it was"
