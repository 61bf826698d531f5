"""The signature check accepts exactly what twilio's `RequestValidator` accepts."""

from __future__ import annotations

import itertools

import pytest
from twilio.request_validator import RequestValidator

from ivr.webhooks import SignatureCheck

TOKEN = "test-auth-token"
PUBLIC_URLS = [
    "https://support.example.test",
    "https://support.example.test:443",
    "http://127.0.0.1:8080",
    "http://support.example.test/ivr",
]
PATHS = ["/voice", "/voice/turn?seq=3", "/voice/turn?seq=3&silence=1", "/voice/queue/wait?entry=a%20b"]
FORMS = [
    {},
    {"CallSid": "CA1", "From": "+15550100001", "Digits": "4512"},
    {"SpeechResult": 'my order & "stuff" <ok> é ü 日本', "Confidence": "0.9", "Empty": ""},
    {"b": "1", "a": "2", "A": "3", "a1": "x=y&z"},
]


def _signatures(validator: RequestValidator, public_url: str, path: str, form: dict[str, str]) -> list[str]:
    """Signatures a sender might present: for this URL as written, with and without its port,
    for another path, for other fields, and nonsense."""
    host = public_url.split("://", 1)[1].split("/", 1)[0]
    bare = host.split(":")[0]
    default = "443" if public_url.startswith("https") else "80"
    spellings = {public_url, public_url.replace(host, bare), public_url.replace(host, f"{bare}:{default}")}
    out = [validator.compute_signature(base + path, form) for base in sorted(spellings)]
    out.append(validator.compute_signature(public_url + path + "x", form))
    out.append(validator.compute_signature(public_url + path, {**form, "Digits": "9"}))
    out.append(RequestValidator("other-token").compute_signature(public_url + path, form))
    out += ["", "not base64", out[0][:-1], out[0].lower()]
    return out


@pytest.mark.parametrize(("public_url", "path"), list(itertools.product(PUBLIC_URLS, PATHS)))
def test_accepts_and_refuses_what_twilios_validator_does(public_url: str, path: str) -> None:
    validator = RequestValidator(TOKEN)
    check = SignatureCheck(TOKEN, public_url)
    accepted = 0
    for form in FORMS:
        for signature in _signatures(validator, public_url, path, form):
            expected = validator.validate(public_url + path, form, signature)
            assert check.valid(path, form, signature) == expected, (form, signature)
            accepted += expected
    assert accepted >= len(FORMS)  # the right signature is accepted for every form
