"""The `scanner` command line: the typer app, with the commands and groups of the modules beside
this one (one per command group; each command parses its options, calls the library and prints).

`scanner = "device.cli:app"` is the console script; `python -m device.cli` runs it too.
"""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer

from device.cli import (
    bench,
    config,
    emulate,
    export,
    georef,
    record,
    serve,
    sim,
    site,
    slam,
    splat,
)

app = typer.Typer(
    help="Handheld 3D laser scanner: the scanning daemon, SLAM, the digital twin and benchmarks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


app.command()(slam.slam)
app.command()(bench.bench)
app.add_typer(splat.app, name="splat")
app.add_typer(sim.app, name="sim")
app.command()(record.record)
app.command()(emulate.emulate)
app.command()(export.export)
app.command()(georef.georef)
app.command()(site.site)
app.command()(serve.run)
app.command()(serve.demo)
app.add_typer(config.app, name="config")

__all__ = ["app"]
