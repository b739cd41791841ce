"""`python -m device.cli`: the `scanner` command line."""

from device.cli import app

app()
