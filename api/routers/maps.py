"""The map paged to the browser: a scan's or a site's COPC map (map.copc.laz), its octree, then
each node's points as the view needs them (/static/map.html draws them); and, for a scan
processed without it, the making of that map."""

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, status
from fastapi.responses import Response

from api.deps import DaemonDep, require_token_or_query
from api.schemas import PagedMapOut
from device.daemon import MapUnreadableError, NotFoundError

router = APIRouter(tags=["map pages"], dependencies=[Depends(require_token_or_query)])
making = APIRouter(prefix="/scans", tags=["map pages"])

Kind = Literal["scans", "sites"]
NO_COPC = (
    "POST /api/v1/scans/{id}/map makes a scan's COPC map, or add copc to [products] formats,"
    " or run scanner export --format copc"
)
REMAKE = "make it again (POST /api/v1/scans/{id}/map, or scanner export --format copc)"
NODE_KEY = r"^\d{1,2}-\d{1,7}-\d{1,7}-\d{1,7}$"  # depth-x-y-z, COPC's VoxelKey


def _ask(get, *args):
    try:
        return get(*args)
    except NotFoundError as exc:  # say how to make one
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"{exc}: {NO_COPC}") from None
    except MapUnreadableError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, f"{exc}: {REMAKE}") from None


@router.get("/{kind}/{name}/map/hierarchy")
def get_hierarchy(kind: Kind, name: str, daemon: DaemonDep) -> dict:
    """The octree: its cube (centre and half side, metres, in the map's frame or CRS), the
    spacing of depth 0's cells, whether the points have colour, the number of points, and
    every node as [depth, x, y, z, points]."""
    return _ask(daemon.map_hierarchy, kind, name)


@router.get(
    "/{kind}/{name}/map/nodes/{key}",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}, 404: {}},
)
def get_node(
    kind: Kind,
    name: str,
    key: Annotated[str, Path(pattern=NODE_KEY, description="depth-x-y-z")],
    daemon: DaemonDep,
) -> Response:
    """A node's points: float32 x, y, z [N, 3] (metres from the cube's centre), then uint8
    red, green, blue, intensity [N, 4]; N = the body's length / 16."""
    body = _ask(daemon.map_node, kind, name, tuple(int(v) for v in key.split("-")))
    headers = {"Cache-Control": "private, max-age=300"}  # a node changes only with its file
    return Response(body, media_type="application/octet-stream", headers=headers)


def _state(daemon, scan_id: str) -> PagedMapOut:
    state, error = daemon.paged_map(scan_id)
    return PagedMapOut(state=state, error=error)


@making.post("/{scan_id}/map", status_code=status.HTTP_202_ACCEPTED, response_model=PagedMapOut)
def make_paged_map(scan_id: str, daemon: DaemonDep) -> PagedMapOut:
    """Make the scan's paged map (map.copc.laz) from its map, in the background: 404 unknown
    scan; 409 while it records, is processed or busy in another job, or has no products."""
    daemon.make_paged_map(scan_id)
    return _state(daemon, scan_id)


@making.get("/{scan_id}/map", response_model=PagedMapOut)
def get_paged_map(scan_id: str, daemon: DaemonDep) -> PagedMapOut:
    """none, running, done (map/hierarchy answers) or failed (with why)."""
    return _state(daemon, scan_id)
