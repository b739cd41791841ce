"""`scanner run` and `scanner demo`: the daemon and its HTTP API, on the real sensors or on the
digital twin played through the emulators."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from device.cli.common import ConfigOption, fail, progress, scanner_config
from device.config import ScannerConfig


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
        raise fail(f"cannot listen on {cfg.api.host}:{cfg.api.port}: {exc}") from None
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


def run(config: ConfigOption = None) -> None:
    """The scanning daemon on the real sensors: button, REST API and web UI."""
    _serve(scanner_config(config), None, "scanner daemon running")


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
    from device.demo import EmulatorProcess, demo_config, demo_splat, twin_session
    from drivers.sim.scenes.catalog import SCENE_NAMES

    if scene not in SCENE_NAMES:
        raise fail(f"unknown scene {scene!r}; choose one of {', '.join(SCENE_NAMES)}")
    cache = data_dir.parent / "cache" / "demo"
    with progress(f"twin: {scene} (once)") as update:
        session = twin_session(cache, scene, progress=update)
    emulator = EmulatorProcess(session, data_dir / "run")
    try:
        emulator.wait_ready()
        cfg = demo_config(session, emulator.settings, data_dir, port, splat=demo_splat())
        _serve(cfg, duration, f"demo: the {scene} twin on emulated sensors (Ctrl-C stops)")
    except RuntimeError as exc:
        raise fail(str(exc)) from None
    finally:
        emulator.stop()
