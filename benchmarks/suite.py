"""`scanner bench` as a whole: the parts it runs (the real BALM scans, the twin's sequences, the
map products, and on request the long site walks against the LIO peers), put together into one
markdown report written beside the config it ran with."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from benchmarks.balm import run_bench
from benchmarks.twin import MOTIONS, SCENES, format_twin_table, run_sequence, twin_session
from device.config import ScannerConfig, save_snapshot

log = logging.getLogger(__name__)

PARTS = ("all", "balm", "twin", "products", "site")  # "all" leaves out "site": it is long
QUICK_SECONDS = 15.0  # one twin run of this length with --quick
TWIN_SECONDS = 60.0  # the twin's seconds per sequence otherwise


class BenchDataError(FileNotFoundError):
    """The benchmark's data is not where it was looked for."""


def run_suite(
    config: ScannerConfig,
    out: Path,
    data: Path,
    *,
    only: str = "all",
    quick: bool = False,
    duration_s: float | None = None,
    realism: str = "datasheet",
    note: Callable[[str], None] = log.info,
) -> str:
    """Run the parts `only` names (one of PARTS) and write their tables to `out` (markdown),
    with a snapshot of the config -> the text written. `data` holds the BALM scans with
    reference_poses.tum; `quick` runs a small subset (20 real scans, one 15 s twin run) and
    `duration_s` is the twin's seconds per sequence otherwise (default 60; for the site, each
    walk's own length: the campus 30 min, the courtyard 60 s). `realism` is the site's error
    profile. `note` hears what starts when. Raises BenchDataError when the BALM scans are not
    in `data`."""
    if only not in PARTS:
        raise ValueError(f"only takes one of {', '.join(PARTS)}, not {only!r}")
    out.parent.mkdir(parents=True, exist_ok=True)
    text = ""
    if only in ("all", "balm"):
        if not (data / "reference_poses.tum").exists():
            raise BenchDataError(
                f"{data}: no BALM scans with reference_poses.tum here (use --data)"
            )
        note(f"real scans from {data}: ours and kiss-icp ...")
        run_bench(data, out, config.slam, quick=quick)
        text += "## Real scans (BALM), lidar-only\n\n" + out.read_text() + "\n"
    seconds = QUICK_SECONDS if quick else duration_s or TWIN_SECONDS
    cache = out.parent / "cache" / "twin"
    if only in ("all", "twin"):
        sequences = [("office", "walk")] if quick else [(s, m) for s in SCENES for m in MOTIONS]
        rows = []
        for scene, motion in sequences:
            note(f"twin {scene}/{motion}, {seconds:g} s: LIO, lidar-only, kiss-icp ...")
            rows += run_sequence(twin_session(cache, scene, motion, seconds), config.slam)
        text += "## Digital twin, against the ground truth\n\n" + format_twin_table(rows)
    if only in ("all", "products"):
        from benchmarks.products import format_products_table, products_row

        sequences = [("office", "walk")] if quick else [(s, "walk") for s in SCENES]
        product_rows = []
        for scene, motion in sequences:
            note(f"map products {scene}/{motion}, {seconds:g} s ...")
            session = twin_session(cache, scene, motion, seconds)
            product_rows.append(products_row(session, config))
        text += "\n## Map products, against the twin's mesh and colours\n\n"
        text += format_products_table(product_rows)
    if only == "site":
        from benchmarks.site import SEQUENCES, SiteSequence, format_site_table, run_site

        if quick:
            walks = [SiteSequence("courtyard", QUICK_SECONDS)]
        else:
            walks = [SiteSequence(s.scene, duration_s or s.duration_s) for s in SEQUENCES]
        site_rows = run_site(config.slam, out, cache, note, sequences=walks, realism=realism)
        text += "## Long walks against the LIO peers (twin, each method in its own process)\n\n"
        text += format_site_table(site_rows, realism)
    out.write_text(text)
    save_snapshot(config, out)
    return text
