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
    only: Annotated[str, typer.Option("--only", help="all | balm | twin | products")] = "all",
    duration: Annotated[
        float, typer.Option("--duration", min=5.0, max=600.0, help="twin seconds per sequence")
    ] = 60.0,
    out: Annotated[Path, typer.Option("--out", help="markdown table to write")] = Path(
        "out/bench.md"
    ),
    data: Annotated[
        Path, typer.Option("--data", help="BALM scans with reference poses")
    ] = DEFAULT_BALM,
    config: ConfigOption = None,
) -> None:
    """Accuracy and speed against kiss-icp on the same data in the same run: the real BALM
    scans (lidar-only) and digital-twin sequences (every scene, walk and aggressive)."""
    try:
        from benchmarks.suite import PARTS, BenchDataError, run_suite
    except ImportError as exc:
        raise fail(
            f"the bench needs the 'bench' extra (pip install -e '.[bench]'): {exc}"
        ) from None
    if only not in PARTS:
        raise fail(f"--only takes all, balm, twin or products, not {only!r}")
    cfg = scanner_config(config)
    try:
        text = run_suite(
            cfg,
            out,
            data,
            only=only,
            quick=quick,
            duration_s=duration,
            note=lambda message: typer.echo(message, err=True),
        )
    except BenchDataError as exc:
        raise fail(str(exc)) from None
    typer.echo(text)
    typer.echo(f"saved {out}", err=True)
