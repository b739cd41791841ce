"""The map products against the twin's truth: geometry (cloud-to-mesh) and colour."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from device.config import ScannerConfig
from device.processing import process_session
from products.accuracy import session_colour_accuracy, session_map_accuracy


def products_row(session: Path, config: ScannerConfig) -> dict:
    """Process a copy of a twin session and measure its map -> one table row."""
    with tempfile.TemporaryDirectory() as tmp:
        dst = Path(tmp) / session.name
        shutil.copytree(session, dst, ignore=shutil.ignore_patterns("products"))
        t0 = time.perf_counter()
        process_session(dst, config)
        wall = time.perf_counter() - t0
        return {
            "session": session.name,
            "processing_s": wall,
            **session_map_accuracy(dst),
            **session_colour_accuracy(dst),
        }


def format_products_table(rows: list[dict]) -> str:
    out = [
        "| session | map points | cloud-to-mesh median [cm] | p95 [cm] | within 5 cm | coloured |"
        " colour error median / p90 [of 255] | processing [s] |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        colour = f"{r['median_error']:.1f} / {r['p90_error']:.1f}" if "median_error" in r else "-"
        out.append(
            f"| {r['session']} | {r['points']:,} | {r['median_m'] * 100:.2f} |"
            f" {r['p95_m'] * 100:.2f} | {r['within_5cm'] * 100:.1f} % |"
            f" {r['coloured_fraction'] * 100:.0f} % | {colour} | {r['processing_s']:.1f} |"
        )
    return "\n".join(out) + "\n\nTargets: median <= 2 cm, p95 <= 5 cm; colour median <= 10.\n"
