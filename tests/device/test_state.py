import threading

import pytest

from device.state import ALLOWED, State, StateMachine, TransitionError


def test_the_scan_cycle_and_its_error_exits():
    sm = StateMachine()
    seen = []
    sm.subscribe(lambda old, new: seen.append((old, new)))
    for s in (State.starting, State.scanning, State.stopping, State.processing, State.idle):
        sm.move(s)
    assert [n for _, n in seen][-1] == State.idle and len(seen) == 5
    sm.move(State.starting)
    sm.move(State.error, error="lidar gone")
    assert sm.state == State.error and sm.error == "lidar gone"
    with pytest.raises(TransitionError):
        sm.move(State.starting)  # an error must be acknowledged first
    sm.move(State.idle)
    assert sm.error is None


@pytest.mark.parametrize("state", list(State))
def test_only_the_listed_moves_are_allowed(state):
    for wanted in State:
        sm = StateMachine()
        sm._state = state
        if wanted in ALLOWED[state]:
            sm.move(wanted)
        else:
            with pytest.raises(TransitionError):
                sm.move(wanted)


def test_racing_callers_get_exactly_one_success():
    sm = StateMachine()
    wins, barrier = [], threading.Barrier(8)

    def go():
        barrier.wait()
        try:
            sm.move(State.starting, expect=State.idle)
            wins.append(1)
        except TransitionError:
            pass

    threads = [threading.Thread(target=go) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1 and sm.state == State.starting


def test_expect_guards_the_move():
    sm = StateMachine()
    with pytest.raises(TransitionError):
        sm.move(State.starting, expect=State.scanning)
    assert sm.state == State.idle
