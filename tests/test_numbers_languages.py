"""Spoken numbers in German and Swedish, as callers say order and ticket numbers.

Where the forms were checked:
- German: Duden's number spelling (compounds written as one word, "fünfundvierzig"), the
  telephone "zwo" for 2 (said so it is not confused with "drei"), and text2num's German
  grammar, which reads them (https://github.com/allo-media/text2num, its German tests).
- Swedish: Wiktionary's Appendix:Swedish numerals and Wikibooks' Swedish/Numerals (compounds
  as one word "fyrtiofem", the everyday "förti", "femti", "tjugi", "tjuåtta" for 28, "nie",
  "tie", "fyr"; "ett"/"en" as both the number and the article; "(ett)hundra", "ettusen").
- Both: numbers on the phone are read digit by digit or in pairs ("45 12"), inside a
  sentence ("meine Bestellnummer ist ...", "mitt ordernummer är ..."), as in the English tests.
"""

from __future__ import annotations

import pytest

from ivr.speech.number_words import reading
from ivr.speech.numbers_de import spoken_digits as german
from ivr.speech.numbers_sv import spoken_digits as swedish

GERMAN = [
    ("fünfundvierzig zwölf", "4512"),
    ("vier fünf eins zwei", "4512"),
    ("null", "0"),
    ("vier fünf eins zwo", "4512"),
    ("meine Bestellnummer ist vier fünf eins zwei", "4512"),
    ("Die Nummer ist sieben sieben acht acht", "7788"),
    ("fünf und vierzig zwölf", "4512"),  # a recogniser's word list splits compounds
    ("viertausendfünfhundertzwölf", "4512"),
    ("null null sieben", "007"),
    ("eins null null", "100"),
    ("hundertzwölf", "112"),
    ("einhundertzwölf", "112"),
    ("zweitausend", "2000"),
    ("siebzehn elf", "1711"),
    ("achtundneunzig dreiunddreißig", "9833"),
    ("sechzig sieben", "607"),
    ("eins zwei drei vier fünf sechs sieben acht neun null", "1234567890"),
    ("ich weiß es nicht", ""),
    ("ich habe eine Frage", ""),
]

SWEDISH = [
    ("fyrtiofem tolv", "4512"),
    ("fyra fem ett två", "4512"),
    ("noll", "0"),
    ("mitt ordernummer är fyra fem ett två", "4512"),
    ("fyrtio fem tolv", "4512"),  # said as two words, still 45
    ("förti fem tolv", "4512"),
    ("förtifem tolv", "4512"),
    ("femti femti", "5050"),
    ("sju sju åtta åtta", "7788"),
    ("noll noll sju", "007"),
    ("tjugoett", "21"),
    ("tjuåtta", "28"),
    ("tjugi tre", "23"),
    ("fyrahundratolv", "412"),
    ("etthundra", "100"),
    ("hundra", "100"),
    ("tvåtusen", "2000"),
    ("ettusen niohundrasjuttiofem", "1975"),
    ("sexton arton", "1618"),
    ("nie tie", "910"),
    ("en två tre", "123"),  # "en" next to numbers is one
    ("jag har ett ordernummer fyra fem", "45"),  # "ett" as the article is not
    ("jag vet inte", ""),
    ("hej", ""),
]


@pytest.mark.parametrize(("said", "digits"), GERMAN)
def test_german_numbers(said: str, digits: str) -> None:
    assert german(said) == digits


@pytest.mark.parametrize(("said", "digits"), SWEDISH)
def test_swedish_numbers(said: str, digits: str) -> None:
    assert swedish(said) == digits


def test_each_language_reads_its_own_numbers_and_english_is_the_default() -> None:
    assert reading("de").spoken_digits("vier fünf") == "45"
    assert reading("sv").spoken_digits("fyra fem") == "45"
    assert reading("en").spoken_digits("four five") == "45"
    assert reading("fr").spoken_digits("four five") == "45"
    assert reading("de").key_words["zwo"] == "2" and reading("sv").key_words["stjärna"] == "*"
