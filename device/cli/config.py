"""`scanner config`: inspect the configuration (`show`)."""

from __future__ import annotations

import typer

from device.cli.common import ConfigOption, scanner_config

app = typer.Typer(help="Inspect the configuration.", no_args_is_help=True)


@app.command("show")
def show(config: ConfigOption = None) -> None:
    """Print the effective configuration (file + environment + defaults) as JSON."""
    typer.echo(scanner_config(config).model_dump_json(indent=2))
