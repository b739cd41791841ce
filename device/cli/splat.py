"""`scanner splat`: 3D Gaussian Splatting of a session (`train`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from device.cli.common import ConfigOption, fail, processed_session, progress, scanner_config

app = typer.Typer(help="3D Gaussian Splatting of a session.", no_args_is_help=True)


@app.command("train")
def train(
    session: Annotated[Path, typer.Argument(help="a session folder (processed first if not)")],
    out: Annotated[Path, typer.Option("--out", help="folder for splat.ply and scene.splat")],
    iters: Annotated[
        int | None, typer.Option("--iters", min=1, help="training iterations [splat] iterations")
    ] = None,
    device: Annotated[
        str | None, typer.Option("--device", help="cpu or cuda [splat] device (auto: cuda if any)")
    ] = None,
    scale: Annotated[
        float | None,
        typer.Option("--scale", min=0.05, max=1.0, help="image scale (smaller: faster)"),
    ] = None,
    map_voxel: Annotated[
        float | None,
        typer.Option("--map-voxel", min=0.0, help="thin the map to this voxel (m) first"),
    ] = None,
    pose_refine: Annotated[
        bool | None,
        typer.Option(
            "--pose-refine/--no-pose-refine", help="learn corrections of the SLAM camera poses"
        ),
    ] = None,
    align_steps: Annotated[
        int | None,
        typer.Option(
            "--align-steps", min=0, help="test-time pose alignment of held-out views (0: none)"
        ),
    ] = None,
    blind_zone: Annotated[
        bool | None,
        typer.Option(
            "--blind-zone/--no-blind-zone",
            help="add points triangulated from the images where the LiDAR saw nothing",
        ),
    ] = None,
    exposure: Annotated[
        bool | None,
        typer.Option(
            "--exposure/--no-exposure",
            help="learn each keyframe's colour transform (an auto-exposed camera)",
        ),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Train 3D Gaussians on a session's keyframes from its coloured map; resumes from DIR's
    checkpoint. Writes splat.ply (standard 3DGS PLY), scene.splat and splat.json into DIR.
    Every setting comes from the config's [splat]; an option given here overrides it."""
    import torch

    from splat.config import train_config, with_options
    from splat.train import train_session

    if device not in (None, "cpu", "cuda"):
        raise fail(f"--device takes cpu or cuda, not {device!r}")
    cfg = scanner_config(config)
    splat_cfg = with_options(
        cfg.splat,
        iterations=iters,
        device=device,
        image_scale=scale,
        map_voxel_m=map_voxel,
        pose_refine=pose_refine,
        blind_zone=blind_zone,
        exposure=exposure,
        align_steps=align_steps,
    )
    device = splat_cfg.torch_device()
    if device == "cuda" and not torch.cuda.is_available():
        raise fail("no CUDA device here; use --device cpu (slow: try --scale 0.25)")
    processed_session(session, cfg)
    train_cfg = train_config(splat_cfg)
    with progress(f"training ({device})") as update:
        try:
            figures = train_session(
                session,
                out,
                train_cfg,
                device,
                progress=lambda i, loss: update(i / train_cfg.iterations),
            )
        except ValueError as exc:
            raise fail(str(exc)) from None
    b, a = figures["before"], figures["after"]
    typer.echo(
        f"{a['gaussians']:,} Gaussians -> {out / 'splat.ply'}, {out / 'scene.splat'}; "
        f"held-out PSNR {b['psnr_db']:.2f} -> {a['psnr_db']:.2f} dB, SSIM {b['ssim']:.3f} -> "
        f"{a['ssim']:.3f} over {a['views']} views; {figures['iterations_per_s']} it/s"
    )
    init = figures["init_points"]
    typer.echo(
        f"initialised from {init['lidar']:,} map points and {init['blind_zone']:,} points "
        "triangulated where the LiDAR saw nothing"
    )
    if "psnr_db_colour_fit" in a:
        typer.echo(
            f"with each held-out render's colours fitted to its image (exposure unknown): PSNR "
            f"{a['psnr_db_colour_fit']:.2f} dB; learned gains {a['exposure_corrections']}"
        )
    if "psnr_db_aligned" in a:
        typer.echo(
            f"after test-time pose alignment of the held-out views: PSNR "
            f"{a['psnr_db_aligned']:.2f} dB, SSIM {a['ssim_aligned']:.3f}"
        )
