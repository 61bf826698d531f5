"""The validator checks every language, and the flow lifecycle round-trips what it exports.

Fixture: the three-language line in `tests/fixtures/languages/`.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from ivr.cli import main
from ivr.flow.files import FlowFiles, compile_files, read_files
from ivr.flow.loader import FlowInvalid
from ivr.flow.problems import ProblemCode

LINE = Path(__file__).resolve().parent / "fixtures" / "languages"


def files() -> FlowFiles:
    return read_files(LINE / "flows" / "support.yaml", LINE / "prompts")


def line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


def with_prompts(code: str, text: str) -> FlowFiles:
    base = files()
    return FlowFiles(base.flow, {**base.prompts, code: text})


def test_the_three_language_line_is_valid() -> None:
    compiled = compile_files(files(), language="en", languages=("en", "de", "sv"))
    assert sorted(compiled.catalogs) == ["de", "en", "sv"]
    option = compiled.flow.states["main_menu"].options[0]  # type: ignore[union-attr]
    assert option.words_in("sv") == ("beställning", "min beställning", "var är min beställning")


def test_swedish_prompts_missing_one_id_are_refused_naming_the_file() -> None:
    sv = files().prompts["sv"]
    without = "\n".join(line for line in sv.splitlines() if not line.strip().startswith("order_heard:"))
    with pytest.raises(FlowInvalid) as caught:
        compile_files(with_prompts("sv", without), language="en")
    assert caught.value.source == "prompts/sv.yaml"
    en_line = line_of(files().prompts["en"], "order_heard:")
    assert caught.value.lines() == [
        f"prompts/sv.yaml: prompt 'order_heard' is missing in language 'sv'; 'en' has it "
        f"(prompts/en.yaml line {en_line})"
    ]
    assert caught.value.problems[0].code is ProblemCode.MISSING_PROMPT


def test_a_placeholder_that_differs_between_languages_is_refused_at_its_line() -> None:
    de = files().prompts["de"].replace("Bestellung {order_number:digits}.", "Ihre Bestellung.")
    with pytest.raises(FlowInvalid) as caught:
        compile_files(with_prompts("de", de), language="en")
    line = line_of(de, "order_heard:")
    assert caught.value.lines() == [
        f"prompts/de.yaml line {line}: prompt 'order_heard' has placeholders none but in 'en' "
        "{order_number}: every language must say the same values"
    ]
    assert caught.value.problems[0].code is ProblemCode.PLACEHOLDER_MISMATCH


def test_a_menu_option_with_no_words_in_a_language_is_refused_at_its_line() -> None:
    flow = files().flow.replace("          sv: [reparation]\n", "")
    with pytest.raises(FlowInvalid) as caught:
        compile_files(FlowFiles(flow, files().prompts), "flows/support.yaml", language="en")
    line = line_of(flow, "- key: 2") + 1  # the option's 'words'
    assert caught.value.lines() == [
        f"flows/support.yaml line {line}, state 'main_menu': option 2 has no words in language 'sv' "
        "(prompts/sv.yaml exists); add 'sv: [...]' under 'words'"
    ]


def test_a_served_language_must_have_prompts() -> None:
    base = files()
    with pytest.raises(FlowInvalid, match="the line speaks 'sv' but there are no prompts for it"):
        compile_files(FlowFiles(base.flow, {"en": base.prompts["en"]}), language="en", languages=("en", "sv"))


# The lifecycle, as an operator runs it


@pytest.fixture
def data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("IVR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("IVR_DATABASE_URL", raising=False)
    monkeypatch.setenv("IVR_FLOW", str(LINE / "flows" / "support.yaml"))
    monkeypatch.setenv("IVR_PROMPTS", str(LINE / "prompts"))
    monkeypatch.setenv("IVR_LANGUAGES", "en,de,sv")
    return tmp_path / "data"


def flows(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["flows", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_validate_and_publish_take_exactly_what_export_wrote(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = flows(capsys, "publish", str(LINE))  # the directory itself
    assert (code, err) == (0, "")
    assert out == "Published version 1: new calls get it now.\n"
    exported = tmp_path / "exported"
    code, out, _ = flows(capsys, "export", str(exported))
    assert code == 0
    written = [Path(line) for line in out.splitlines()[:-1]]
    assert sorted(p.relative_to(exported).as_posix() for p in written) == [
        "flows/support.yaml",
        "guides/coffee-machine-descaling.yaml",
        "guides/dishwasher-e15.yaml",
        "guides/washing-machine-drain.yaml",
        "prompts/de.yaml",
        "prompts/en.yaml",
        "prompts/sv.yaml",
    ]
    # Every file it wrote, prompts first, as a shell glob would list them: no catalogue is
    # mistaken for a broken flow.
    named = sorted(map(str, written), reverse=True)
    code, out, err = flows(capsys, "validate", *named)
    assert (code, err) == (0, "")
    assert re.fullmatch(
        r".*/flows/support.yaml: flow 'support' is valid \(6 states; prompts in de, en, sv\)\n", out
    )
    assert flows(capsys, "validate", str(exported))[0] == 0
    code, out, _ = flows(capsys, "publish", *named)
    assert (code, out) == (0, "Version 1 is already published with these files; nothing changed.\n")


def test_named_prompts_are_checked_against_each_other(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(LINE, copy)
    sv = copy / "prompts" / "sv.yaml"
    sv.write_text("\n".join(line for line in sv.read_text().splitlines() if "goodbye:" not in line) + "\n")
    code, out, err = flows(
        capsys, "validate", str(copy / "flows" / "support.yaml"), str(sv), str(copy / "prompts" / "en.yaml")
    )
    assert code == 1 and out == ""
    assert err.startswith(f"{copy / 'prompts'}/sv.yaml: prompt 'goodbye' is missing in language 'sv'")
    code, out, err = flows(capsys, "publish", str(copy))
    assert code == 1
    assert err.endswith("ivr flows publish: nothing was changed.\n")
    code, _, err = flows(capsys, "validate", str(sv))
    assert (code, err) == (1, "ivr flows validate: no flow file among the files named (only prompts)\n")
