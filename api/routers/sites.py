"""Sites over HTTP: processed scans joined into one frame (scanner site's work), their state,
and their map, E57 and trajectories to download. The daemon's errors: api/errors.py."""

from fastapi import APIRouter, Depends, status
from fastapi.responses import FileResponse

from api.deps import DaemonDep, require_token_or_query
from api.routers.products import MEDIA_TYPES
from api.schemas import SiteIn, SiteOut

router = APIRouter(prefix="/sites", tags=["sites"])
downloads = APIRouter(
    prefix="/sites", tags=["sites"], dependencies=[Depends(require_token_or_query)]
)


def _out(daemon, name: str) -> SiteOut:
    state, error, summary, products = daemon.site(name)
    return SiteOut(name=name, state=state, error=error, summary=summary, products=products)


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=SiteOut)
def make_site(body: SiteIn, daemon: DaemonDep) -> SiteOut:
    """Join processed scans into a site, in the background: 404 an unknown scan; 409 one that
    records, is processed or not yet, or the site being made; 422 a bad name."""
    daemon.make_site(body.name, body.scans, tuple(body.formats))
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
    path = daemon.site_product(name, file)
    media = MEDIA_TYPES.get(path.suffix, "application/octet-stream")
    return FileResponse(path, media_type=media, filename=f"{name}_{file.replace('/', '_')}")
