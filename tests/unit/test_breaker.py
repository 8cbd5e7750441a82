"""The circuit breaker opens after consecutive failures, probes once after the pause, recovers."""

from service.breaker import CircuitBreaker


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_opens_after_threshold_and_recovers_through_one_probe() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=3, reset_s=2.0, clock=clock)
    for _ in range(2):
        assert breaker.allow()
        breaker.record_failure()
    assert breaker.state == "closed"
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.state == "open"
    assert not breaker.allow()

    clock.now += 2.5
    assert breaker.state == "half-open"
    assert breaker.allow()  # the probe
    assert not breaker.allow()  # only one at a time
    breaker.record_success()
    assert breaker.state == "closed"
    assert breaker.allow()


def test_failed_probe_reopens_for_another_pause() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=1, reset_s=1.0, clock=clock)
    breaker.record_failure()
    clock.now += 1.5
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.state == "open"
    clock.now += 0.5
    assert not breaker.allow()
    clock.now += 0.6
    assert breaker.allow()


def test_success_resets_the_failure_count() -> None:
    breaker = CircuitBreaker(failure_threshold=2, reset_s=1.0, clock=FakeClock())
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    assert breaker.state == "closed"


def test_a_failed_probe_doubles_the_pause_up_to_reset_s_and_a_success_starts_over() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=2, reset_s=1.0, clock=clock, first_reset_s=0.25)
    pauses = []
    for _ in range(2):
        breaker.record_failure()
    for _ in range(5):
        pauses.append(breaker.pause_s)
        clock.now += breaker.pause_s - 0.01
        assert not breaker.allow()  # still open just before the pause ends
        clock.now += 0.02
        assert breaker.allow()  # the probe
        breaker.record_failure()
    assert pauses == [0.25, 0.5, 1.0, 1.0, 1.0]
    clock.now += 1.01
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state == "closed"
    for _ in range(2):
        breaker.record_failure()
    assert breaker.state == "open" and breaker.pause_s == 0.25  # a new opening: short again


def test_failures_of_calls_already_in_flight_do_not_lengthen_the_pause() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=2, reset_s=2.0, clock=clock, first_reset_s=0.25)
    for _ in range(6):  # a stall fails every command in flight at once
        breaker.record_failure()
    assert breaker.pause_s == 0.25
    clock.now += 0.3
    assert breaker.state == "half-open"


def test_a_first_pause_longer_than_reset_s_is_reset_s() -> None:
    breaker = CircuitBreaker(failure_threshold=1, reset_s=1.0, clock=FakeClock(), first_reset_s=5)
    breaker.record_failure()
    assert breaker.pause_s == 1.0
