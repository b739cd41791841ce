"""Scans: start, stop, list, marks, process again, delete. The daemon's errors are answered by
api/errors.py (404 no such scan, 409 busy or in the wrong state, 422 a bad mark, 507 full)."""

from fastapi import APIRouter, HTTPException, Response, status

from api.deps import DaemonDep
from api.schemas import MarkIn, MarkOut, ScanOut, StopOut
from device.daemon import Mark
from device.state import TransitionError
from device.status import ScanReport

router = APIRouter(prefix="/scans", tags=["scans"])


def _not_scanning(scan_id: str, exc: Exception) -> HTTPException:
    return HTTPException(status.HTTP_409_CONFLICT, f"{scan_id} is not scanning ({exc})")


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ScanOut)
def start_scan(daemon: DaemonDep) -> ScanReport:
    """Start a scan: 409 while one runs (or the device is busy), 507 when storage is full."""
    try:
        manifest = daemon.start_scan()
    except TransitionError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, f"cannot start a scan: {exc}") from None
    return daemon.scan(manifest.id)


@router.get("", response_model=list[ScanOut])
def list_scans(daemon: DaemonDep) -> list[ScanReport]:
    """Every scan, newest first."""
    return daemon.scans()


@router.get("/{scan_id}", response_model=ScanOut)
def get_scan(scan_id: str, daemon: DaemonDep) -> ScanReport:
    return daemon.scan(scan_id)


@router.post("/{scan_id}/stop", status_code=status.HTTP_202_ACCEPTED, response_model=StopOut)
def stop_scan(scan_id: str, daemon: DaemonDep) -> StopOut:
    """Stop the running scan; its recording is closed and processed in the background."""
    try:
        daemon.stop_scan(scan_id)
    except TransitionError as exc:
        raise _not_scanning(scan_id, exc) from None
    return StopOut(id=scan_id)


def _mark_out(mark: Mark, xyz) -> MarkOut:
    return MarkOut(
        name=mark.name,
        t_s=mark.t_s,
        source=mark.source,
        position_m=None if xyz is None else [round(float(v), 4) for v in xyz],
    )


@router.post("/{scan_id}/marks", status_code=status.HTTP_201_CREATED, response_model=MarkOut)
def add_mark(scan_id: str, daemon: DaemonDep, body: MarkIn | None = None) -> MarkOut:
    """Mark a point (a control point under the reference point) in the running scan, now.
    404 unknown id; 409 unless it is scanning or for a name it already has; 422 a bad name;
    507 when it cannot be written."""
    try:
        mark = daemon.mark(scan_id, (body or MarkIn()).name, source="api")
    except TransitionError as exc:
        raise _not_scanning(scan_id, exc) from None
    except OSError as exc:  # a full or failing disk: the mark is not taken, the scan goes on
        raise HTTPException(
            status.HTTP_507_INSUFFICIENT_STORAGE, f"the mark could not be written: {exc}"
        ) from None
    return _mark_out(mark, daemon.live_position(mark))


@router.get("/{scan_id}/marks", response_model=list[MarkOut])
def list_marks(scan_id: str, daemon: DaemonDep) -> list[MarkOut]:
    """The scan's marks in the order taken, with their positions once processed."""
    return [_mark_out(m, xyz) for m, xyz in daemon.marks(scan_id)]


@router.post("/{scan_id}/process", status_code=status.HTTP_202_ACCEPTED, response_model=ScanOut)
def process_scan(scan_id: str, daemon: DaemonDep) -> ScanReport:
    """Make the scan's products again, in the background after any other processing: a scan
    whose processing was cut off, a recovered one, or one to remake with a new config.
    404 unknown id; 409 while it records or is being processed."""
    daemon.process_scan(scan_id)
    return daemon.scan(scan_id)


@router.delete("/{scan_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_scan(scan_id: str, daemon: DaemonDep) -> Response:
    """404 unknown id; 409 while it records or is busy in a job."""
    daemon.delete_scan(scan_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
