"""Anonymous media-stream sockets are kept few, and a new one is never refused for their sake."""

from __future__ import annotations

from ivr.mediastream.admission import StreamAdmission


def test_the_longest_waiting_socket_from_the_same_address_makes_room() -> None:
    admission: StreamAdmission[str] = StreamAdmission(total=10, per_address=2)
    assert admission.admit("a1", "10.0.0.1") == []
    assert admission.admit("a2", "10.0.0.1") == []
    assert admission.admit("b1", "10.0.0.2") == []
    assert admission.admit("a3", "10.0.0.1") == ["a1"]
    assert admission.waiting == 3


def test_past_the_total_the_longest_waiting_of_all_makes_room() -> None:
    admission: StreamAdmission[str] = StreamAdmission(total=3, per_address=3)
    for name, address in (("a", "1"), ("b", "2"), ("c", "3")):
        admission.admit(name, address)
    assert admission.admit("d", "4") == ["a"]
    assert admission.admit("e", "5") == ["b"]


def test_a_socket_that_named_its_call_is_never_evicted() -> None:
    admission: StreamAdmission[str] = StreamAdmission(total=2, per_address=2)
    admission.admit("call", "twilio")
    admission.identified("call")
    evicted = [gone for name in ("x", "y", "z") for gone in admission.admit(name, "twilio")]
    assert "call" not in evicted and evicted == ["x"]
    admission.gone("y")
    assert admission.waiting == 1


def test_only_sockets_that_named_their_call_while_waiting_count_as_streams() -> None:
    admission: StreamAdmission[str] = StreamAdmission(total=2, per_address=1)
    admission.admit("call", "twilio")
    admission.identified("call")
    admission.admit("x", "attacker")
    assert admission.admit("y", "attacker") == ["x"]
    admission.identified("x")  # its start arrived while it was being closed
    assert admission.streaming == 1
    admission.gone("call")
    assert admission.streaming == 0
