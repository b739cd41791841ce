"""`scanner export`: a session's map, trajectory or splat as a file (products/export.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from device.cli.common import ConfigOption, fail, processed_session, scanner_config


def export(
    session: Annotated[Path, typer.Argument(help="a session folder")],
    format: Annotated[str, typer.Option("--format", help="las, laz, e57, ply, pcd, copc or tum")],
    out: Annotated[Path, typer.Option("--out", help="file to write")],
    config: ConfigOption = None,
) -> None:
    """Write a session's map or trajectory; a session not yet processed is processed first."""
    from drivers.sessions.manifest import PRODUCTS
    from products.export import EXPORT_FORMATS, MissingProductError, export_product

    fmt = format.lower()
    if fmt not in EXPORT_FORMATS:
        raise fail(f"unknown format {format!r}; choose one of {', '.join(EXPORT_FORMATS)}")
    cfg = scanner_config(config)
    manifest = processed_session(session, cfg)
    products = session / PRODUCTS
    try:
        what = export_product(
            products, fmt, out, gps_offset_s=manifest.utc_offset_s, epsg=cfg.products.epsg,
            voxel_m=cfg.products.map_voxel_m,
        )  # fmt: skip
    except MissingProductError:
        raise fail(
            f"{session}: no splat yet; train one with "
            f"`scanner splat train {session} --out {products}`"
        ) from None
    typer.echo(f"{what} -> {out}")
