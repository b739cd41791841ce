"""Sites over HTTP: processed scans joined into one frame (scanner site's work), their state,
and their map, E57 and trajectories to download."""

from fastapi import APIRouter, Depends, HTTPException, status
from fastapi.responses import FileResponse

from api.deps import DaemonDep, require_token_or_query
from api.routers.products import MEDIA_TYPES
from api.schemas import SiteIn, SiteOut
from device.daemon import ScanNotFoundError
from device.jobs import ScanBusyError
from device.site import SiteError

router = APIRouter(prefix="/sites", tags=["sites"])
downloads = APIRouter(
    prefix="/sites", tags=["sites"], dependencies=[Depends(require_token_or_query)]
)


def _out(daemon, name: str) -> SiteOut:
    try:
        state, error, summary, products = daemon.site(name)
    except ScanNotFoundError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such site") from None
    return SiteOut(name=name, state=state, error=error, summary=summary, products=products)


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=SiteOut)
def make_site(body: SiteIn, daemon: DaemonDep) -> SiteOut:
    """Join processed scans into a site, in the background: 404 an unknown scan; 409 one that
    records, is processed or not yet, or the site being made; 422 a bad name."""
    try:
        daemon.make_site(body.name, body.scans, tuple(body.formats))
    except ScanNotFoundError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such scan") from None
    except ScanBusyError as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from None
    except SiteError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, str(exc)) from None
    return _out(daemon, body.name)


@router.get("", response_model=list[SiteOut])
def list_sites(daemon: DaemonDep) -> list[SiteOut]:
    return [_out(daemon, name) for name in daemon.sites()]


@router.get("/{name}", response_model=SiteOut)
def get_site(name: str, daemon: DaemonDep) -> SiteOut:
    """running, done (site.json and the products) or failed (why)."""
    return _out(daemon, name)


@downloads.get(
    "/{name}/products/{file:path}",
    responses={206: {"description": "part of the file (Range)"}, 404: {}},
)
def get_site_product(name: str, file: str, daemon: DaemonDep) -> FileResponse:
    """A site's file (map.laz, map.e57, site.json, trajectories/NAME.tum), streamed."""
    try:
        path = daemon.site_product(name, file)
    except ScanNotFoundError:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such product") from None
    media = MEDIA_TYPES.get(path.suffix, "application/octet-stream")
    return FileResponse(path, media_type=media, filename=f"{name}_{file.replace('/', '_')}")
