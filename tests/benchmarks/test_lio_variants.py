"""benchmarks.lio_variants: LIO configurations side by side on one session."""

import math

from benchmarks.lio_variants import format_rows, run_variants


def test_two_variants_side_by_side_with_their_extrinsics_against_the_truth(twin_session, tmp_path):
    rows = run_variants(twin_session, [{}, {"lio_refine_extrinsic": False}], tmp_path)
    assert [r.overrides for r in rows] == [{}, {"lio_refine_extrinsic": False}]
    assert all(r.ate_m < 0.03 and r.points_per_s > 0 for r in rows)
    refined, fixed = (r.extrinsic_off_truth for r in rows)
    assert fixed == (0.0, 0.0)  # the ideal twin: the nominal calibration is the truth
    assert 0.0 < refined[0] < 0.5 and refined[1] < 0.02  # refined: moved a little from it
    assert all(math.isnan(r.relative_hv_m[100.0][1]) for r in rows)  # a 6 s walk: no 100 m
    assert sorted(p.name for p in tmp_path.glob("*.tum")) == ["office.0.tum", "office.1.tum"]
    table = format_rows(twin_session, rows)
    assert table.count("| `") == 2 and "100 m h / v [mm]" in table
