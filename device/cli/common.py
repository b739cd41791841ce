"""What the `scanner` commands share: the --config option and loading it, failing with a
message and an exit code, progress bars on stderr, and processing a session first."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated

import typer

from device.config import ConfigError, ScannerConfig, load_config
from drivers.sessions.manifest import SessionManifest, read_manifest

ConfigOption = Annotated[
    Path | None, typer.Option("--config", help="TOML config (default /etc/scanner/scanner.toml)")
]


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print `error: message` in red on stderr -> the Exit to raise."""
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code)


@contextlib.contextmanager
def progress(label: str) -> Iterator[Callable[[float], None]]:
    """A progress bar on stderr, driven by a fraction done (0..1)."""
    with typer.progressbar(length=1000, label=label, file=sys.stderr) as bar:
        done = [0]

        def update(fraction: float) -> None:
            step = int(fraction * 1000) - done[0]
            bar.update(step)
            done[0] += step

        yield update


def scanner_config(path: Path | None) -> ScannerConfig:
    """The config (`--config` or the default), or exit 2 saying what is wrong with it."""
    try:
        return load_config(path)
    except ConfigError as exc:
        raise fail(str(exc)) from None


def processed_session(session: Path, cfg: ScannerConfig) -> SessionManifest:
    """The session's manifest once its products are made (processed first, with a progress bar,
    if they are not); exit 2 if it is not a readable session or cannot be processed."""
    from device.processing import ProcessingError, needs_processing, process_session

    try:
        manifest = read_manifest(session)
    except (OSError, ValueError) as exc:
        raise fail(f"{session}: not a readable session ({exc})") from None
    if not needs_processing(session, manifest):
        return manifest
    with progress("processing") as update:
        try:
            process_session(session, cfg, lambda stage, fraction: update(fraction))
        except ProcessingError as exc:
            raise fail(f"{session}: {exc}") from None
    return read_manifest(session)
