"""`scanner site`: several processed scans of one site joined into one frame (products/site.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from device.cli.common import ConfigOption, fail, processed_session, progress, scanner_config


def site(
    out: Annotated[Path, typer.Argument(help="the site's folder to write")],
    sessions: Annotated[
        list[Path], typer.Argument(help="session folders, two or more; the first holds the frame")
    ],
    formats: Annotated[
        str, typer.Option("--formats", help="map formats, a,b: laz, ply, copc, e57 (one scan each)")
    ] = "laz,e57",
    config: ConfigOption = None,
) -> None:
    """Join sessions of one site: each one's submaps found in the others' (views from above,
    verified by registration), linked through their overlaps and optimised in one pose graph;
    writes one map, an E57 with each session as a scan with its pose, each trajectory in the
    site's frame and site.json (the links and the residuals in each overlap)."""
    from products.site import SiteError, make_site

    cfg = scanner_config(config)
    for s in sessions:
        processed_session(s, cfg)  # processed first where they are not
    fmts = tuple(f.strip().lower() for f in formats.split(",") if f.strip())
    try:
        with progress("site") as update:
            doc = make_site(
                out, sessions, cfg.mapping, cfg.products, fmts, lambda stage, f: update(f)
            )
    except (SiteError, OSError) as exc:
        raise fail(str(exc)) from None
    for s in doc["sessions"]:
        state = "placed" if s["placed"] else "LEFT OUT: overlaps none of the others"
        typer.echo(f"{s['name']}: {s['submaps']} submaps, {state}")
    typer.echo(f"{len(doc['links'])} links between sessions ({doc['rejected']} refused)")
    for o in doc["overlaps"]:
        typer.echo(
            f"overlap {o['b']} -> {o['a']}: {o['links']} links; the surfaces"
            f" {o['rms_m'] * 1000:.1f} mm RMS apart ({o['median_m'] * 1000:.1f} mm median,"
            f" {o['patches']:,} patches)"
        )
    typer.echo(f"-> {out}: {', '.join(doc['products'])}")
    if not all(s["placed"] for s in doc["sessions"]):
        raise typer.Exit(1)
