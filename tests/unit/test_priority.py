"""Acks first (docs/decisions/0010): after-ack work waits while Slack requests are being
answered, but never longer than its bound."""

from __future__ import annotations

import threading
import time

from bot.priority import ACKS_FIRST_SECONDS, QUIET_GAP_SECONDS, AckGate, urgent


def _start_waiting(gate: AckGate) -> tuple[threading.Thread, list[float]]:
    done: list[float] = []

    def wait() -> None:
        gate.wait_quiet()
        done.append(time.monotonic())

    thread = threading.Thread(target=wait)
    thread.start()
    return thread, done


def test_work_waits_for_the_answer_in_flight_then_for_a_quiet_gap() -> None:
    gate = AckGate()
    with gate.answering():
        assert urgent()
        thread, done = _start_waiting(gate)
        time.sleep(0.1)
        assert done == []  # still answering: the work has not started
        answered = time.monotonic()
    assert not urgent()
    thread.join(timeout=2)
    [started] = done
    assert started - answered >= QUIET_GAP_SECONDS * 0.9


def test_work_starts_after_its_bound_even_when_answers_never_stop() -> None:
    gate = AckGate()
    with gate.answering():
        began = time.monotonic()
        thread, done = _start_waiting(gate)
        thread.join(timeout=2)
        [started] = done
    assert ACKS_FIRST_SECONDS * 0.9 <= started - began < ACKS_FIRST_SECONDS + 1.0


def test_with_nothing_answered_work_starts_at_once() -> None:
    began = time.monotonic()
    assert AckGate().wait_quiet() is True
    assert time.monotonic() - began < 0.05
