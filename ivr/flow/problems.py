"""What the flow validator says about a flow: located, coded, and either blocking or not.

A supervisor reads the message; a web editor reads the line, the state, the code and
the severity to underline the right place while the flow is being typed.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    ERROR = "error"
    """The flow cannot be published until this is fixed."""
    WARNING = "warning"
    """Shown to the editor; the flow still loads."""


class ProblemCode(StrEnum):
    """Stable codes, one per rule, for editors, logs and tests to key on (never reworded)."""

    YAML = "yaml"
    SCHEMA = "schema"
    UNKNOWN_STATE = "unknown_state"
    UNKNOWN_ACTION = "unknown_action"
    DUPLICATE_KEY = "duplicate_key"
    MISSING_PROMPT = "missing_prompt"
    MISSING_VARIABLE = "missing_variable"
    LOOP_NEVER_WAITS = "loop_never_waits"
    UNREACHABLE = "unreachable"
    NO_WAY_OUT = "no_way_out"
    ENDLESS_RETRY = "endless_retry"
    TRANSFER_FALLBACK = "transfer_fallback"
    MENU_TOO_LONG = "menu_too_long"
    OUTCOME_DEFAULTED = "outcome_defaulted"
    RETIRED_OUTCOME = "retired_outcome"
    CHOICE_NOT_UNDERSTOOD = "choice_not_understood"
    MISSING_WORDS = "missing_words"
    PLACEHOLDER_MISMATCH = "placeholder_mismatch"
    SHARED_PHRASE = "shared_phrase"
    FEW_PHRASES = "few_phrases"


@dataclass(frozen=True, slots=True)
class Problem:
    line: int | None
    """Line in the flow file (1-based), or None when the file as a whole is at fault."""
    state: str | None
    """The state the problem belongs to, or None for flow-level settings."""
    message: str
    """Plain words saying what is wrong and what to do."""
    code: ProblemCode = ProblemCode.SCHEMA
    severity: Severity = Severity.ERROR

    def describe(self, source: str) -> str:
        """The one-line form the command line and the logs show."""
        where = f"{source} line {self.line}" if self.line else source
        state = f", state '{self.state}'" if self.state else ""
        return f"{where}{state}: {self.message}"
