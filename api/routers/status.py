from fastapi import APIRouter

from api.deps import DaemonDep
from api.schemas import StatusOut

router = APIRouter(tags=["status"])


@router.get("/status", response_model=StatusOut)
def get_status(daemon: DaemonDep) -> dict:
    """State, current scan, sensor health, live SLAM, storage and processing."""
    return daemon.status()
