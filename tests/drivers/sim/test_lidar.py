"""The twin's Mid-360: firing pattern, rates, and returns that follow the datasheet."""

import numpy as np
import pytest

from drivers.sim.lidar import LidarModel, Mid360Pattern


@pytest.fixture(scope="module")
def pattern() -> Mid360Pattern:
    return Mid360Pattern.load()


def test_pattern_rate_and_field_of_view(pattern):
    t_s, dirs, channel = pattern.fire(0, 200_000)  # one second
    assert pattern.point_rate_hz == 200_000
    assert t_s[-1] < 1.0 and np.all(np.diff(t_s) >= 0)
    np.testing.assert_allclose(np.linalg.norm(dirs, axis=1), 1.0, atol=1e-12)
    elevation = np.degrees(np.arcsin(dirs[:, 2]))
    # datasheet: -7 to +52 degrees (the fitted model overshoots by under half a degree)
    assert -7.6 < elevation.min() < -6.5 and 51.5 < elevation.max() < 52.5
    azimuth = np.degrees(np.arctan2(dirs[:, 1], dirs[:, 0]))
    counts = np.histogram(azimuth, bins=36, range=(-180, 180))[0]
    assert counts.min() > 0.8 * counts.mean()  # 360 degrees, evenly
    assert set(np.unique(channel)) == {0, 1, 2, 3}


def test_pattern_is_continuous_across_calls(pattern):
    _, a, _ = pattern.fire(0, 8000)
    _, b, _ = pattern.fire(4000, 4000)
    np.testing.assert_allclose(a[4000:], b, atol=1e-12)
    with pytest.raises(ValueError):
        pattern.fire(2, 4)


def test_reach_follows_the_datasheet():
    m = LidarModel()
    np.testing.assert_allclose(m.reach_m(np.array([0.1, 0.8])), [40.0, 70.0])
    assert m.reach_m(np.array([0.02]))[0] < 40.0
