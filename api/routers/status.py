from fastapi import APIRouter

from api.deps import DaemonDep
from api.schemas import StatusOut
from device.status import StatusReport

router = APIRouter(tags=["status"])


@router.get("/status", response_model=StatusOut)
async def get_status(daemon: DaemonDep) -> StatusReport:
    """State, current scan, sensor health, live SLAM, storage and processing.

    Async on purpose: answered on the event loop, with no hop through the thread pool
    (each hop waits for the GIL behind the sensor threads while a scan runs)."""
    return daemon.status()
