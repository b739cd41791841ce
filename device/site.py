"""Sites on the device: processed scans joined into one frame (products/site.py) in
DATA/sites/NAME, in the background for the API; `scanner site` calls make_site directly."""

from __future__ import annotations

import json
import re
from pathlib import Path

from device.config import ScannerConfig
from device.workers import BackgroundJob
from products.site import SITE_FILE, TRAJECTORIES, SiteError, make_site

SITES = "sites"  # beside the sessions in the data folder (no session.json: not a scan)
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def check_site_name(name: str) -> str:
    """The name, or SiteError: a folder name of letters, digits, '.', '_' and '-'."""
    if not NAME.fullmatch(name) or name.endswith("."):
        raise SiteError(f"a site's name is 1-64 letters, digits, '.', '_', '-': not {name!r}")
    return name


def read_site(folder: Path) -> dict | None:
    """A finished site's site.json, or None."""
    try:
        return json.loads((folder / SITE_FILE).read_text())
    except (OSError, ValueError):
        return None


def site_products(folder: Path) -> list[str]:
    """What a site folder holds to download: its files, and trajectories/NAME."""
    from device.processing import product_names

    return product_names(folder, (TRAJECTORIES,))


def _site_run(out: str, sessions: list[str], formats: tuple[str, ...], config_json: str) -> dict:
    config = ScannerConfig.model_validate_json(config_json)
    doc = make_site(
        Path(out), [Path(s) for s in sessions], config.mapping, config.products, formats
    )
    return {
        "sessions": [{"name": s["name"], "placed": s["placed"]} for s in doc["sessions"]],
        "links": len(doc["links"]),
        "overlaps": doc["overlaps"],
        "timings_s": doc["timings_s"],
    }


def site_in_background(
    out: Path, sessions: list[Path], formats: tuple[str, ...], config: ScannerConfig
) -> BackgroundJob:
    args = (str(out), [str(s) for s in sessions], tuple(formats), config.model_dump_json())
    return BackgroundJob("site", _site_run, args, expected=(SiteError,))
