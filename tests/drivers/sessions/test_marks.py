"""Marks on disk (power-safe appends, torn lines) and their positions on a trajectory."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from drivers.sessions.marks import (
    MARKS,
    Mark,
    MarkError,
    append_mark,
    check_name,
    mark_positions,
    read_marks,
    read_marks_csv,
    write_marks_csv,
)


def test_marks_append_and_read_back_and_a_torn_last_line_is_skipped(tmp_path, caplog):
    a = Mark("CP1", 1_000_000_000, (0.0, 0.0, -0.25), "button")
    b = Mark("CP 2", 2_500_000_000, (0.1, 0.0, -0.3), "api")
    append_mark(tmp_path, a)
    append_mark(tmp_path, b)
    with open(tmp_path / MARKS, "a") as f:
        f.write('{"name": "CP3", "t_n')  # the power went mid-line
    assert read_marks(tmp_path) == [a, b]
    assert "not a mark" in caplog.text
    assert read_marks(tmp_path / "nowhere") == []


@pytest.mark.parametrize("bad", ["", "   ", "a,b", 'say "x"', "x" * 65, "two\nlines"])
def test_bad_names_are_refused(bad):
    with pytest.raises(MarkError):
        check_name(bad)


def test_a_marks_position_is_the_reference_point_on_the_trajectory(tmp_path):
    t = np.linspace(0.0, 10.0, 101)  # [N]
    T = np.tile(np.eye(4), (len(t), 1, 1))
    T[:, :3, 3] = np.column_stack([t, 2 * t, np.zeros_like(t)])  # 1 m/s in x, 2 in y
    T[:, :3, :3] = Rotation.from_euler("z", t[:, None] * 0.1).as_matrix()  # turning
    ref = (0.2, 0.0, -0.25)
    marks = [Mark("A", int(2.55e9), ref), Mark("B", int(7.0e9), ref), Mark("late", int(11e9), ref)]
    xyz = mark_positions(marks, t, T)
    R = Rotation.from_euler("z", 0.255).as_matrix()
    assert np.allclose(xyz[0], [2.55, 5.1, 0.0] + R @ ref, atol=1e-6)
    assert np.isnan(xyz[2]).all()  # after the trajectory's end: unknown, not extrapolated
    write_marks_csv(tmp_path / "marks.csv", marks, xyz)
    back = read_marks_csv(tmp_path / "marks.csv")
    assert set(back) == {"A", "B"} and np.allclose(back["B"], xyz[1], atol=1e-4)
