"""Product downloads: streamed, with HTTP Range so a broken multi-GB download resumes."""

from fastapi import APIRouter, Depends
from fastapi.responses import FileResponse

from api.deps import DaemonDep, require_token_or_query

router = APIRouter(prefix="/scans", tags=["scans"], dependencies=[Depends(require_token_or_query)])

MEDIA_TYPES = {
    ".ply": "application/octet-stream",
    ".laz": "application/vnd.laszip",
    ".las": "application/vnd.las",
    ".e57": "application/octet-stream",
    ".pcd": "application/octet-stream",
    ".splat": "application/octet-stream",
    ".tum": "text/plain; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".json": "application/json",
    ".csv": "text/csv; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
}


@router.get(
    "/{scan_id}/products/{name:path}",
    responses={206: {"description": "part of the file (Range)"}, 404: {}},
)
def get_product(scan_id: str, name: str, daemon: DaemonDep) -> FileResponse:
    """A product file, streamed; `Range: bytes=N-` resumes an interrupted download. The
    georeferenced ones are `georef/NAME`."""
    path = daemon.product_path(scan_id, name)  # 404 for any other name (api/errors.py)
    media = MEDIA_TYPES.get(path.suffix, "application/octet-stream")
    disposition = "inline" if path.suffix == ".html" else "attachment"
    return FileResponse(
        path,
        media_type=media,
        filename=f"{scan_id}_{name.replace('/', '_')}",
        content_disposition_type=disposition,
    )
