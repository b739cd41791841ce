"""`scanner bench --quick` end to end: both methods run on the same real scans."""

from pathlib import Path

import pytest

from slam.config import OdometryConfig

BALM = Path(__file__).resolve().parents[3] / "shared" / "data" / "real" / "balm"


@pytest.mark.skipif(not BALM.is_dir(), reason=f"real BALM scans not found at {BALM}")
def test_quick_bench_writes_the_comparison(tmp_path):
    pytest.importorskip("kiss_icp")
    from benchmarks.balm import QUICK_SCANS, run_bench

    out = tmp_path / "bench.md"
    rows = run_bench(BALM, out, OdometryConfig(), quick=True, cache_dir=tmp_path / "cache")
    ours, loops, kiss, ref = rows
    assert ours.method.startswith("scanner") and kiss.method.startswith("kiss-icp")
    assert ours.ate_m < 0.03  # 20 scans, 10 s of walking, before the fast turns
    assert loops.method.startswith("scanner+loops") and loops.ate_m < 0.03
    assert ours.points_per_s > 0 and kiss.points_per_s > 0
    assert 0.3 < ref.thickness_cm < 3.0 and ours.thickness_cm < 3.0
    table = out.read_text()
    assert f"{QUICK_SCANS} scans" in table and "kiss-icp" in table
    assert (tmp_path / "bench.scanner.tum").read_text().count("\n") == QUICK_SCANS


def test_twin_sequence_bench_compares_the_three_methods(tmp_path):
    pytest.importorskip("kiss_icp")
    from benchmarks.twin import format_twin_table, run_sequence, twin_session

    session = twin_session(tmp_path, "office", "walk", 6.0, seed=3)
    assert twin_session(tmp_path, "office", "walk", 6.0, seed=3) == session  # cached
    rows = run_sequence(session, OdometryConfig())
    assert [r.method.split()[0:2] for r in rows][:2] == [
        ["scanner", "LIO"],
        ["scanner", "lidar-only"],
    ]
    assert rows[2].method.startswith("kiss-icp")
    lio = rows[0]
    assert lio.ate_m < 0.03 and lio.realtime_factor > 0 and lio.p99_latency_ms > 0  # no timing
    assert "office-walk-6s" in format_twin_table(rows)
