"""Georeferencing a processed scan over HTTP: the control CSV in, the job's state out, the
products in the CRS as georef/NAME (products.py). The daemon's errors: api/errors.py."""

from fastapi import APIRouter, HTTPException, status

from api.deps import DaemonDep
from api.schemas import GeorefIn, GeorefOut
from device.georef import GeorefSettings
from device.workers import BackgroundJob

router = APIRouter(prefix="/scans", tags=["georef"])


def _out(daemon, scan_id: str, job: BackgroundJob) -> GeorefOut:
    products = [n for n in daemon.scan(scan_id).products if n.startswith("georef/")]
    return GeorefOut(state=job.state, error=job.error, summary=job.summary, products=products)


@router.post("/{scan_id}/georef", status_code=status.HTTP_202_ACCEPTED, response_model=GeorefOut)
def start_georef(scan_id: str, body: GeorefIn, daemon: DaemonDep) -> GeorefOut:
    """Tie the scan to control points, in the background (scanner georef's work): 404 unknown
    scan; 409 while it records, is processed or georeferenced, or has no products; 422 a
    control CSV that cannot be read."""
    settings = GeorefSettings(
        tuple(body.check), tuple(body.exclude), body.adjust, body.scale, body.level,
        body.tolerance_m,
    )  # fmt: skip
    job = daemon.georef(scan_id, body.control_csv, settings)
    return _out(daemon, scan_id, job)


@router.get("/{scan_id}/georef", response_model=GeorefOut)
def get_georef(scan_id: str, daemon: DaemonDep) -> GeorefOut:
    """The latest georeferencing started over the API: running, done (with its figures) or
    failed (with why); 404 when none was."""
    daemon.scan(scan_id)  # 404 for an unknown scan
    job = daemon.georef_job(scan_id)
    if job is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no georeferencing started")
    return _out(daemon, scan_id, job)
