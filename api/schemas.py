"""The API's pydantic schemas: what goes over the wire, and nothing else."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Health(BaseModel):
    ok: bool


class SensorHealthOut(BaseModel):
    connected: bool
    rate_hz: float
    drops: int
    errors: int
    messages: int


class PoseOut(BaseModel):
    t_s: float = Field(description="host monotonic clock, seconds")
    position_m: list[float]
    quaternion_xyzw: list[float]


class SlamOut(BaseModel):
    mode: str | None
    pose: PoseOut | None
    distance_m: float
    map_points: int
    realtime_factor: float | None = Field(description="sensor time / compute time")
    degenerate: bool
    imu_ok: bool | None
    lag_s: float | None = Field(description="now - the newest pose's time (its sweep's middle)")
    poses: int
    dropped_frames: int
    first_pose_s: float | None = Field(description="from the start of the scan")
    error: str | None
    loops: int = Field(0, description="loops closed in this scan")
    last_loop_correction_m: float | None = Field(
        None, description="how far the last loop closure moved the map"
    )


class RecordingOut(BaseModel):
    duration_s: float
    bytes: int
    messages: int
    write_errors: int


class StorageOut(BaseModel):
    total_bytes: int
    free_bytes: int
    minutes_left: float


class ProcessingOut(BaseModel):
    scan_id: str
    stage: str
    progress: float


class StatusOut(BaseModel):
    state: Literal["idle", "starting", "scanning", "stopping", "processing", "error"]
    since_s: float
    error: str | None
    scan_id: str | None
    sensors: dict[str, SensorHealthOut]
    slam: SlamOut | None
    recording: RecordingOut | None
    storage: StorageOut
    processing: ProcessingOut | None


class ScanOut(BaseModel):
    id: str
    state: Literal["recording", "recorded", "processing", "done", "failed", "recovered"]
    created_utc: str
    duration_s: float
    progress: float | None
    stage: str | None
    splat_progress: float | None = None  # the splat, trained after the map (scan done)
    products: list[str]
    error: str | None
    stats: dict[str, Any]


class StopOut(BaseModel):
    id: str
    state: str = "stopping"


class MarkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(
        None, max_length=64, description="the control point's name; none: M01, M02, ..."
    )


class MarkOut(BaseModel):
    name: str
    t_s: float = Field(description="on the recording's clock")
    source: str
    position_m: list[float] | None = Field(
        description="the reference point in the map frame: live SLAM's estimate when taken, "
        "the final trajectory's once processed, null where neither is known"
    )


class GeorefIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    control_csv: str = Field(
        max_length=1_000_000,
        description="the control points: a CSV with a header (name, easting, northing, height, "
        "optional epsg; also x, y, z), as scanner georef --control reads it",
    )
    check: list[str] = Field([], description="names held out as check points")
    exclude: list[str] = Field([], description="names left out (a flagged point)")
    adjust: Literal["graph", "rigid"] = "graph"
    scale: bool = False
    level: bool = False
    tolerance_m: float = Field(0.05, gt=0.0, le=10.0)


class GeorefOut(BaseModel):
    state: Literal["running", "done", "failed"]
    error: str | None = None
    summary: dict[str, Any] | None = Field(
        None, description="RMS per role (m) after (and before the graph was bent), flagged names"
    )
    products: list[str] = Field([], description="georef/NAME, downloadable as products")


class ButtonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    press: Literal["short", "long", "double"] = "short"


class ButtonOut(BaseModel):
    action: str
    state: str


class SiteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        min_length=1, max_length=64, description="the site's folder: letters, digits, . _ -"
    )
    scans: list[str] = Field(
        min_length=2, max_length=50, description="processed scans; the first holds the frame"
    )
    formats: list[Literal["laz", "ply", "e57", "copc"]] = Field(
        ["laz", "e57"], min_length=1, description="the map's formats (e57: one scan each)"
    )


class SiteOut(BaseModel):
    name: str
    state: Literal["running", "done", "failed"]
    error: str | None = None
    summary: dict[str, Any] | None = Field(
        None, description="site.json: the sessions and their poses, the links, the overlaps"
    )
    products: list[str] = Field([], description="downloadable as /sites/{name}/products/FILE")


class PagedMapOut(BaseModel):
    """A scan's paged map (map.copc.laz): none, running, done or failed."""

    state: Literal["none", "running", "done", "failed"]
    error: str | None = None
