"""`scanner bench`: accuracy and speed against kiss-icp (the suite is benchmarks/suite.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from device.cli.common import ConfigOption, fail, scanner_config

# the real BALM scans, in the shared data beside the checkout
DEFAULT_BALM = Path(__file__).resolve().parents[3] / "shared" / "data" / "real" / "balm"


def bench(
    quick: Annotated[
        bool, typer.Option("--quick", help="a small subset: 20 real scans, one 15 s twin run")
    ] = False,
    only: Annotated[
        str,
        typer.Option(
            "--only",
            help="all | balm | twin | products | site (not in all: ours, kiss-icp, rko_lio and "
            "kiss-slam on the 30-minute campus and the courtyard, datasheet errors)",
        ),
    ] = "all",
    duration: Annotated[
        float | None,
        typer.Option(
            "--duration",
            min=5.0,
            max=1800.0,
            help="twin seconds per sequence [default: 60; site: the campus 1800, courtyard 60]",
        ),
    ] = None,
    realism: Annotated[
        str, typer.Option("--realism", help="the site's error profile: ideal | datasheet | harsh")
    ] = "datasheet",
    out: Annotated[Path, typer.Option("--out", help="markdown table to write")] = Path(
        "out/bench.md"
    ),
    data: Annotated[
        Path, typer.Option("--data", help="BALM scans with reference poses")
    ] = DEFAULT_BALM,
    config: ConfigOption = None,
) -> None:
    """Accuracy and speed against kiss-icp on the same data in the same run: the real BALM
    scans (lidar-only) and digital-twin sequences (every scene, walk and aggressive); with
    --only site, long twin walks with a real unit's errors against kiss-icp, rko_lio and
    kiss-slam."""
    try:
        from benchmarks.suite import PARTS, BenchDataError, run_suite
    except ImportError as exc:
        raise fail(
            f"the bench needs the 'bench' extra (pip install -e '.[bench]'): {exc}"
        ) from None
    if only not in PARTS:
        raise fail(f"--only takes {', '.join(PARTS)}, not {only!r}")
    from drivers.sim.realism import REALISM_NAMES

    if realism not in REALISM_NAMES:
        raise fail(f"--realism takes {', '.join(REALISM_NAMES)}, not {realism!r}")
    cfg = scanner_config(config)
    try:
        text = run_suite(
            cfg,
            out,
            data,
            only=only,
            quick=quick,
            duration_s=duration,
            realism=realism,
            note=lambda message: typer.echo(message, err=True),
        )
    except BenchDataError as exc:
        raise fail(str(exc)) from None
    typer.echo(text)
    typer.echo(f"saved {out}", err=True)
