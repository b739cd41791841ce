"""The `scanner` command line. Each command loads the config once and hands parts of it down."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated

import typer

from device.config import ConfigError, ScannerConfig, load_config, save_snapshot

app = typer.Typer(
    help="Handheld 3D laser scanner: the scanning daemon, SLAM, the digital twin and benchmarks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
log = logging.getLogger("scanner")

ConfigOption = Annotated[
    Path | None, typer.Option("--config", help="TOML config (default /etc/scanner/scanner.toml)")
]
DEFAULT_BALM = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "real" / "balm"


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code)


@contextlib.contextmanager
def _progress(label: str) -> Iterator[Callable[[float], None]]:
    """A progress bar on stderr, driven by a fraction done (0..1)."""
    with typer.progressbar(length=1000, label=label, file=sys.stderr) as bar:
        done = [0]

        def update(fraction: float) -> None:
            step = int(fraction * 1000) - done[0]
            bar.update(step)
            done[0] += step

        yield update


def _config(path: Path | None) -> ScannerConfig:
    try:
        return load_config(path)
    except ConfigError as exc:
        raise _fail(str(exc)) from None


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


@app.command()
def slam(
    input: Annotated[
        Path, typer.Argument(help="a session folder, a .mcap, or a folder of .pcd/.ply/.npy scans")
    ],
    out: Annotated[Path, typer.Option("--out", help="trajectory to write (TUM)")],
    map: Annotated[
        Path | None, typer.Option("--map", help="downsampled map to write (PLY)")
    ] = None,
    lidar_only: Annotated[bool, typer.Option("--lidar-only", help="ignore any IMU")] = False,
    config: ConfigOption = None,
) -> None:
    """Run SLAM on recorded data and write the trajectory and the map."""
    from device.processing import ProcessingError, SlamInput, open_recording, run_slam
    from drivers.scan_folder import ScanFolderSource, ScanReadError
    from drivers.sessions.trajectory import write_tum
    from slam.map_io import write_ply

    cfg = _config(config)
    try:
        if input.suffix == ".mcap" or input.is_file() or (input / "raw.mcap").exists():
            inp = open_recording(input, cfg, lidar_only)
        else:
            folder = ScanFolderSource(input, default_period_s=cfg.slam.scan_period_s)
            inp = SlamInput(folder, None, len(folder))
    except (ProcessingError, ScanReadError) as exc:
        raise _fail(str(exc)) from None
    mode = inp.mode
    with typer.progressbar(
        length=max(inp.n_sweeps, 1), label=f"registering ({mode})", file=sys.stderr
    ) as bar:
        try:
            run = run_slam(inp, cfg, on_step=lambda n: bar.update(1))
        except ProcessingError as exc:
            raise _fail(f"{input}: {exc}") from None
    if len(run.t_s) == 0:
        raise _fail(f"{input}: no scan could be registered ({run.n_skipped} skipped)")
    out.parent.mkdir(parents=True, exist_ok=True)
    write_tum(out, run.t_s, run.T_world_lidar)
    save_snapshot(cfg, out)
    if map is not None:
        map.parent.mkdir(parents=True, exist_ok=True)
        write_ply(map, run.map_points)
        save_snapshot(cfg, map)
    typer.echo(
        f"{len(run.t_s)} poses -> {out}"
        + (f", {len(run.map_points):,} map points -> {map}" if map else "")
        + f"; {mode}, {run.points_per_s / 1e6:.2f}M points/s, {run.n_skipped} scans skipped,"
        f" {run.n_recovered} lost priors recovered"
    )
    if (
        cfg.slam.lio_refine_extrinsic
        and run.T_lidar_imu is not None
        and inp.T_lidar_imu is not None
    ):
        import numpy as np

        from slam.se3 import so3_log

        change = np.linalg.inv(inp.T_lidar_imu) @ run.T_lidar_imu
        typer.echo(
            "refined T_lidar_imu (moved "
            f"{np.degrees(np.linalg.norm(so3_log(change[:3, :3]))):.2f} deg, "
            f"{100 * np.linalg.norm(change[:3, 3]):.1f} cm from the calibration):\n"
            + np.array2string(run.T_lidar_imu, precision=6, suppress_small=True)
        )


@app.command()
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
        from benchmarks.balm import run_bench
        from benchmarks.twin import MOTIONS, SCENES, format_twin_table, run_sequence, twin_session
    except ImportError as exc:
        raise _fail(
            f"the bench needs the 'bench' extra (pip install -e '.[bench]'): {exc}"
        ) from None
    if only not in ("all", "balm", "twin", "products"):
        raise _fail(f"--only takes all, balm, twin or products, not {only!r}")
    cfg = _config(config)
    out.parent.mkdir(parents=True, exist_ok=True)
    text = ""
    if only in ("all", "balm"):
        if not (data / "reference_poses.tum").exists():
            raise _fail(f"{data}: no BALM scans with reference_poses.tum here (use --data)")
        typer.echo(f"real scans from {data}: ours and kiss-icp ...", err=True)
        run_bench(data, out, cfg.slam, quick=quick)
        text += "## Real scans (BALM), lidar-only\n\n" + out.read_text() + "\n"
    if only in ("all", "twin"):
        sequences = [("office", "walk")] if quick else [(s, m) for s in SCENES for m in MOTIONS]
        seconds = 15.0 if quick else duration
        rows = []
        for scene, motion in sequences:
            typer.echo(
                f"twin {scene}/{motion}, {seconds:g} s: LIO, lidar-only, kiss-icp ...", err=True
            )
            session = twin_session(out.parent / "cache" / "twin", scene, motion, seconds)
            rows += run_sequence(session, cfg.slam)
        text += "## Digital twin, against the ground truth\n\n" + format_twin_table(rows)
    if only in ("all", "products"):
        from benchmarks.products import format_products_table, products_row

        sequences = [("office", "walk")] if quick else [(s, "walk") for s in SCENES]
        seconds = 15.0 if quick else duration
        rows = []
        for scene, motion in sequences:
            typer.echo(f"map products {scene}/{motion}, {seconds:g} s ...", err=True)
            session = twin_session(out.parent / "cache" / "twin", scene, motion, seconds)
            rows.append(products_row(session, cfg))
        text += "\n## Map products, against the twin's mesh and colours\n\n"
        text += format_products_table(rows)
    out.write_text(text)
    save_snapshot(cfg, out)
    typer.echo(text)
    typer.echo(f"saved {out}", err=True)


splat_app = typer.Typer(help="3D Gaussian Splatting of a session.", no_args_is_help=True)
app.add_typer(splat_app, name="splat")


@splat_app.command("train")
def splat_train(
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

    from device.processing import ProcessingError, process_session
    from drivers.sessions.manifest import PRODUCTS, SessionState, read_manifest
    from splat.config import train_config
    from splat.train import train_session

    if device not in (None, "cpu", "cuda"):
        raise _fail(f"--device takes cpu or cuda, not {device!r}")
    try:
        manifest = read_manifest(session)
    except (OSError, ValueError) as exc:
        raise _fail(f"{session}: not a readable session ({exc})") from None
    cfg = _config(config)
    options = {  # only what was given overrides the config's [splat]
        k: v
        for k, v in {
            "iterations": iters,
            "device": device,
            "image_scale": scale,
            "map_voxel_m": map_voxel,
            "pose_refine": pose_refine,
            "blind_zone": blind_zone,
            "exposure": exposure,
            "align_steps": align_steps,
        }.items()
        if v is not None
    }
    splat_cfg = cfg.splat.model_copy(update=options)
    device = splat_cfg.torch_device()
    if device == "cuda" and not torch.cuda.is_available():
        raise _fail("no CUDA device here; use --device cpu (slow: try --scale 0.25)")
    if manifest.state != SessionState.done or not (session / PRODUCTS / "map.ply").is_file():
        with _progress("processing") as progress:
            try:
                process_session(session, cfg, lambda stage, fraction: progress(fraction))
            except ProcessingError as exc:
                raise _fail(f"{session}: {exc}") from None
    train_cfg = train_config(splat_cfg)
    with _progress(f"training ({device})") as progress:
        try:
            figures = train_session(
                session,
                out,
                train_cfg,
                device,
                progress=lambda i, loss: progress(i / train_cfg.iterations),
            )
        except ValueError as exc:
            raise _fail(str(exc)) from None
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


sim_app = typer.Typer(
    help="The digital twin: a virtual scanner with ground truth.", no_args_is_help=True
)
app.add_typer(sim_app, name="sim")


@sim_app.command("scenes")
def sim_scenes() -> None:
    """List the twin's scenes."""
    from drivers.sim.scenes.catalog import describe_scenes

    for name, text in describe_scenes().items():
        typer.echo(f"{name:10s} {text}")


@sim_app.command("generate")
def sim_generate(
    out: Annotated[Path, typer.Option("--out", help="session folder to create")],
    scene: Annotated[str, typer.Option("--scene")] = "office",
    seed: Annotated[int, typer.Option("--seed")] = 0,
    duration: Annotated[
        float, typer.Option("--duration", min=0.5, max=3600.0, help="seconds")
    ] = 60.0,
    motion: Annotated[str, typer.Option("--motion", help="walk | aggressive | static")] = "walk",
    camera_rate: Annotated[
        float, typer.Option("--camera-rate", min=0.0, max=30.0, help="Hz, 0 = off")
    ] = 10.0,
    external_imu: Annotated[
        bool, typer.Option("--external-imu", help="also a serial IMU (400 Hz, /xsens/imu)")
    ] = False,
    camera_model: Annotated[str, typer.Option("--camera-model", help="pinhole | fisheye")] = (
        "pinhole"
    ),
    camera_size: Annotated[str, typer.Option("--camera-size", help="WIDTHxHEIGHT")] = "1280x720",
    camera_fov: Annotated[
        float, typer.Option("--camera-fov", min=10.0, max=220.0, help="horizontal, degrees")
    ] = 90.0,
) -> None:
    """Simulate a scan and write it as a session with ground truth."""
    from drivers.sim.camera import CameraModel
    from drivers.sim.generate import SimSettings, generate_session
    from drivers.sim.motion import PROFILES
    from drivers.sim.scenes.catalog import SCENE_NAMES

    if scene not in SCENE_NAMES:
        raise _fail(f"unknown scene {scene!r}; choose one of {', '.join(SCENE_NAMES)}")
    if motion not in PROFILES:
        raise _fail(f"unknown motion {motion!r}; choose one of {', '.join(PROFILES)}")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise _fail(f"{out}: exists and is not an empty folder")
    if camera_model == "pinhole" and camera_fov >= 170:
        raise _fail("a pinhole camera needs a field of view under 170 degrees; try fisheye")
    try:
        width, height = (int(x) for x in camera_size.lower().split("x"))
        camera = CameraModel.from_hfov(camera_fov, width, height, camera_model)
    except ValueError as exc:
        raise _fail(f"bad camera settings ({camera_size}, {camera_model}): {exc}") from None
    settings = SimSettings(
        scene=scene,
        seed=seed,
        duration_s=duration,
        motion=motion,
        camera_rate_hz=camera_rate,
        camera=camera,
        external_imu=external_imu,
    )
    with _progress(f"simulating {scene}") as progress:
        manifest = generate_session(out, settings, progress)
    st = manifest.stats
    typer.echo(
        f"{out}: {manifest.duration_s:.1f} s, {st['lidar_sweeps']} sweeps "
        f"({st['lidar_points']:,} points), {st['imu_samples']} IMU samples, {st['images']} images"
    )


@app.command()
def record(
    out: Annotated[Path, typer.Option("--out", help="session folder to create")],
    duration: Annotated[
        float | None, typer.Option("--duration", min=0.1, help="seconds; default: until Ctrl-C")
    ] = None,
    config: ConfigOption = None,
    lidar_ip: Annotated[str | None, typer.Option("--lidar-ip")] = None,
    host_ip: Annotated[str | None, typer.Option("--host-ip")] = None,
    imu_port: Annotated[Path | None, typer.Option("--imu-port", help="serial IMU device")] = None,
    camera: Annotated[
        str | None, typer.Option("--camera", help="device, video file or image folder")
    ] = None,
) -> None:
    """Record the live sensors into a session, with no processing."""
    import time

    from device.recording import new_session_recorder
    from device.storage import SessionStore, StorageFullError
    from drivers.hub import SensorHub

    cfg = _config(config)
    overrides = {  # the flags override the config's sensor sections, validated like the file
        "lidar": {
            **({"lidar_ip": lidar_ip} if lidar_ip else {}),
            **({"host_ip": host_ip} if host_ip else {}),
        },
        "imu": {"port": imu_port, "enabled": True} if imu_port else {},
        "camera": {"source": camera, "enabled": True} if camera else {},
    }
    try:
        dumped = cfg.model_dump()
        cfg = type(cfg).model_validate(
            {**dumped, **{k: {**dumped[k], **v} for k, v in overrides.items()}}
        )
    except ValueError as exc:
        raise _fail(f"bad sensor settings: {' '.join(str(exc).split())}") from None
    if out.exists():
        raise _fail(f"{out}: exists; choose a new folder for the session")
    try:
        room = SessionStore(out.parent, reserve_bytes=cfg.storage_reserve_mb * 10**6)
        room = room.check_can_record()
    except StorageFullError as exc:
        raise _fail(str(exc)) from None
    typer.echo(
        f"{room.free_bytes / 1e9:.1f} GB free: about {room.minutes_left:.0f} min of scanning",
        err=True,
    )
    recorder = new_session_recorder(cfg, out)
    t_end = None if duration is None else time.monotonic() + duration
    hub = SensorHub(cfg.lidar, cfg.imu, cfg.camera)
    try:
        with hub:
            typer.echo(f"recording {', '.join(hub.drivers)} into {out}; Ctrl-C stops", err=True)
            while not (t_end is not None and time.monotonic() >= t_end or recorder.disk_low):
                if (tagged := hub.poll(timeout_s=0.2)) is not None:
                    recorder.write(tagged)
    except KeyboardInterrupt:
        pass
    finally:
        manifest = recorder.close()
    st = manifest.stats
    typer.echo(
        f"{out}: {manifest.duration_s:.1f} s, {st.get('lidar_sweeps', 0)} sweeps, "
        f"{st.get('imu_samples', 0)} IMU samples, {st.get('images', 0)} images "
        f"({manifest.state.value})"
    )
    for sensor, health in hub.health().items():
        typer.echo(f"  {sensor}: {health}", err=True)


@app.command()
def emulate(
    session: Annotated[Path, typer.Argument(help="a session folder (from the twin or recorded)")],
    lidar_ip: Annotated[str, typer.Option("--lidar-ip")] = "127.0.0.2",
    host_ip: Annotated[str, typer.Option("--host-ip")] = "127.0.0.1",
    imu_link: Annotated[
        Path | None, typer.Option("--imu-link", help="symlink to an emulated Xsens serial port")
    ] = None,
    camera_dir: Annotated[
        Path | None, typer.Option("--camera-dir", help="folder to lay the camera images out in")
    ] = None,
    rate: Annotated[float, typer.Option("--rate", min=0.0, help="x real time; 0 = flat out")] = 1.0,
    loop: Annotated[bool, typer.Option("--loop", help="play again and again")] = False,
) -> None:
    """Play a session as a live Mid-360 (UDP), a serial IMU (pseudo-terminal) and a camera."""
    import ipaddress

    from drivers.emulate import EmulateSettings, SessionEmulator

    for ip in (lidar_ip, host_ip):
        try:
            if not ipaddress.ip_address(ip).is_loopback:
                raise _fail(f"{ip}: the emulator serves loopback addresses only (127.0.0.0/8)")
        except ValueError:
            raise _fail(f"{ip}: not an IP address") from None
    if not (session / "raw.mcap").exists():
        raise _fail(f"{session}: not a session folder (no raw.mcap)")
    settings = EmulateSettings(lidar_ip, host_ip, imu_link, camera_dir, rate, loop)
    try:
        emulator = SessionEmulator(session, settings)
    except OSError as exc:
        raise _fail(f"cannot start the emulators: {exc}") from None
    try:
        emulator.start()
    except OSError as exc:
        emulator.stop()
        raise _fail(f"cannot start the emulators: {exc} (is another emulator running?)") from None
    try:
        typer.echo(
            f"Mid-360 on {lidar_ip} (host {host_ip})"
            + (f", Xsens on {imu_link}" if imu_link else "")
            + (f", {emulator.n_images} camera images in {camera_dir}" if camera_dir else "")
            + f"; rate x{rate:g}{', looping' if loop else ''}. Ctrl-C stops.",
            err=True,
        )
        with contextlib.suppress(KeyboardInterrupt):
            emulator.wait()
    finally:
        emulator.stop()


@app.command()
def export(
    session: Annotated[Path, typer.Argument(help="a session folder")],
    format: Annotated[str, typer.Option("--format", help="las, laz, e57, ply, pcd or tum")],
    out: Annotated[Path, typer.Option("--out", help="file to write")],
    config: ConfigOption = None,
) -> None:
    """Write a session's map or trajectory; a session not yet processed is processed first."""
    import shutil

    from device.processing import ProcessingError, process_session
    from drivers.sessions.manifest import PRODUCTS, SessionState, read_manifest
    from products.export import FORMATS, read_ply, write_map

    fmt = format.lower()
    splats = {"gs-ply": "splat.ply", "splat": "scene.splat"}
    if fmt not in (*FORMATS, "tum", *splats):
        choices = ", ".join((*FORMATS, "tum", *splats))
        raise _fail(f"unknown format {format!r}; choose one of {choices}")
    try:
        manifest = read_manifest(session)
    except (OSError, ValueError) as exc:
        raise _fail(f"{session}: not a readable session ({exc})") from None
    cfg = _config(config)
    products = session / PRODUCTS
    if manifest.state != SessionState.done or not (products / "map.ply").is_file():
        with _progress("processing") as progress:
            try:
                process_session(session, cfg, lambda stage, fraction: progress(fraction))
            except ProcessingError as exc:
                raise _fail(f"{session}: {exc}") from None
        manifest = read_manifest(session)
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt in splats:
        if not (products / splats[fmt]).is_file():
            raise _fail(
                f"{session}: no splat yet; train one with "
                f"`scanner splat train {session} --out {products}`"
            )
        shutil.copyfile(products / splats[fmt], out)
        typer.echo(f"splat ({fmt}) -> {out}")
        return
    if fmt == "tum":
        shutil.copyfile(products / "trajectory.tum", out)
        typer.echo(f"trajectory -> {out}")
        return
    cloud = read_ply(products / "map.ply")
    write_map(out, cloud, fmt, gps_offset_s=manifest.utc_offset_s, epsg=cfg.products.epsg)
    typer.echo(f"{len(cloud):,} points ({fmt}) -> {out}")


def _serve(cfg: ScannerConfig, duration: float | None, banner: str) -> None:
    """The daemon and its API until Ctrl-C / SIGTERM (or `duration` seconds)."""
    import threading

    from api.app import create_app
    from api.server import ApiServer, resolve_token
    from device.daemon import Daemon

    token, where = resolve_token(cfg)
    daemon = Daemon(cfg)
    try:  # bind first: a busy port fails before anything starts
        server = ApiServer(create_app(daemon, token), cfg.api.host, cfg.api.port)
    except OSError as exc:
        raise _fail(f"cannot listen on {cfg.api.host}:{cfg.api.port}: {exc}") from None
    typer.echo("starting the sensors and SLAM ...", err=True)
    daemon.start()
    typer.echo(f"{banner}\n  web UI: {server.url}/#token={token}\n  token from {where}", err=True)
    if duration is not None:
        threading.Timer(duration, lambda: setattr(server.server, "should_exit", True)).start()
    try:
        server.run()
    finally:
        typer.echo("stopping: closing any scan in progress ...", err=True)
        daemon.close()


@app.command()
def run(config: ConfigOption = None) -> None:
    """The scanning daemon on the real sensors: button, REST API and web UI."""
    _serve(_config(config), None, "scanner daemon running")


@app.command()
def demo(
    port: Annotated[int, typer.Option("--port", min=0, max=65535)] = 8080,
    scene: Annotated[str, typer.Option("--scene")] = "office",
    data_dir: Annotated[
        Path, typer.Option("--data-dir", help="where the demo's scans are kept")
    ] = Path("out/demo"),
    duration: Annotated[
        float | None, typer.Option("--duration", min=1.0, help="seconds; default: until Ctrl-C")
    ] = None,
) -> None:
    """The daemon, fed by the digital twin through the real drivers over loopback."""
    from device.demo import EmulatorProcess, demo_config, twin_session
    from drivers.sim.scenes.catalog import SCENE_NAMES

    if scene not in SCENE_NAMES:
        raise _fail(f"unknown scene {scene!r}; choose one of {', '.join(SCENE_NAMES)}")
    cache = data_dir.parent / "cache" / "demo"
    with _progress(f"twin: {scene} (once)") as progress:
        session = twin_session(cache, scene, progress=progress)
    emulator = EmulatorProcess(session, data_dir / "run")
    try:
        emulator.wait_ready()
        import torch

        from device.demo import DEMO_SPLAT_CPU, DEMO_SPLAT_GPU

        splat = DEMO_SPLAT_GPU if torch.cuda.is_available() else DEMO_SPLAT_CPU
        cfg = demo_config(session, emulator.settings, data_dir, port, splat=splat)
        _serve(cfg, duration, f"demo: the {scene} twin on emulated sensors (Ctrl-C stops)")
    except RuntimeError as exc:
        raise _fail(str(exc)) from None
    finally:
        emulator.stop()


config_app = typer.Typer(help="Inspect the configuration.", no_args_is_help=True)
app.add_typer(config_app, name="config")


@config_app.command("show")
def config_show(config: ConfigOption = None) -> None:
    """Print the effective configuration (file + environment + defaults) as JSON."""
    typer.echo(_config(config).model_dump_json(indent=2))
