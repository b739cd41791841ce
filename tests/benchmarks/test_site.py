"""`scanner bench --only site` on a short walk: ours, kiss-icp and rko_lio, each in its own
process, against the twin's truth."""

import math

import pytest

from slam.config import OdometryConfig


def test_site_bench_runs_the_three_methods_each_in_its_own_process(tmp_path):
    pytest.importorskip("kiss_icp")
    pytest.importorskip("rko_lio")
    from benchmarks.site import SiteSequence, run_site, site_session

    seq = SiteSequence("courtyard", 8.0, seed=2)
    heard: list[str] = []
    out = tmp_path / "site.md"
    rows = run_site(
        OdometryConfig(), out, tmp_path / "cache", heard.append, sequences=[seq], realism="ideal"
    )
    assert [r.method.split()[0] for r in rows] == ["scanner", "kiss-icp", "rko_lio"]
    for r in rows:
        assert r.sequence == "courtyard-8s-ideal" and "failed" not in r.note
        assert math.isfinite(r.ate_m) and math.isfinite(r.drift_pct) and math.isfinite(r.z_max_m)
        assert r.ate_m < 0.5 and r.drift_pct < 10.0  # 8 s of walking: all three hold on
        assert r.points_per_s > 0 and r.path_m > 3.0
        assert 30 < r.start_rss_mb <= r.peak_rss_mb < 4000  # each its own process, not ours
    assert rows[0].ate_m < 0.05  # the LIO on the ideal twin
    table = out.read_text()
    assert table.count("| courtyard-8s-ideal") == 3 and "rko_lio" in table
    for method in ("scanner-lio", "kiss-icp", "rko-lio"):
        tum = tmp_path / f"site.courtyard-8s-ideal.{method}.tum"
        assert tum.read_text().count("\n") > 50  # ~80 sweeps
    assert any("generating" in h for h in heard)
    session = site_session(tmp_path / "cache", seq, "ideal")  # cached: no second generation
    assert session.name == "courtyard-walk-8s-ideal-seed2"
    assert not list((tmp_path / "cache").glob("*.partial"))
