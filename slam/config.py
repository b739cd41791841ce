"""Settings of the odometry. Validated once at the edge; the engine only reads them."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from drivers.source import Sensor


class OdometryConfig(BaseModel):
    """Lidar odometry and local mapping. Distances in metres, angles in degrees."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_range_m: float = Field(0.5, ge=0.0, description="drop points closer than this (operator)")
    max_range_m: float = Field(100.0, gt=0.0, description="drop points farther than this")
    scan_period_s: float = Field(0.1, gt=0.0, description="nominal sweep period, for deskew")
    deskew: bool = Field(True, description="undistort with per-point times when a sweep has them")

    map_voxel_m: float = Field(0.5, gt=0.0, description="voxel size of the local map's hash grid")
    map_point_spacing_m: float = Field(0.1, gt=0.0, description="resolution of map points")
    max_points_per_voxel: int = Field(27, ge=5, le=200)
    local_map_radius_m: float = Field(100.0, gt=0.0, description="evict voxels beyond this")
    source_voxel_m: float = Field(
        0.75, gt=0.0, description="downsampling for the coarse registration"
    )
    refine_source_voxel_m: float = Field(0.5, gt=0.0, description="downsampling for the refinement")

    plane_neighbors: int = Field(8, ge=3, le=20, description="map points per plane fit")
    plane_tolerance_m: float = Field(
        0.05, gt=0.0, description="max distance of a neighbour to its plane"
    )
    max_neighbor_distance_m: float = Field(1.0, gt=0.0)

    initial_threshold_m: float = Field(
        1.0, gt=0.0, description="residual gate before motion is known"
    )
    min_threshold_m: float = Field(0.1, gt=0.0, description="tightest residual gate")
    max_threshold_m: float = Field(3.0, gt=0.0, description="loosest residual gate")
    refine_threshold_m: float = Field(
        0.1, gt=0.0, description="residual gate of the final refinement"
    )
    max_iterations: int = Field(15, ge=1, le=500, description="per stage (coarse, then fine)")
    convergence_eps: float = Field(5e-4, gt=0.0, description="stop when |update| (rad, m) is below")

    recovery_inlier_ratio: float = Field(
        0.8,
        gt=0.0,
        le=1.0,
        description="below this share of the recent inlier fraction, the prior counts as lost",
    )
    recovery_subsample: int = Field(3, ge=1, description="heading search uses every n-th point")
    recovery_yaw_step_deg: float = Field(10.0, gt=0.0, le=90.0)
    recovery_yaw_range_deg: float = Field(90.0, ge=0.0, le=180.0)

    # LiDAR-inertial filter (slam/lio.py); densities are inflated over the datasheet's to cover
    # vibration, timing and model error, as LIO systems do
    imu: Literal["builtin", "external"] = Field(
        "builtin", description="fuse the Mid-360's own IMU or the external serial one"
    )
    imu_gyro_noise: float = Field(2e-3, gt=0.0, description="rad/s/sqrt(Hz)")
    imu_accel_noise: float = Field(0.2, gt=0.0, description="m/s^2/sqrt(Hz)")
    imu_gyro_bias_rw: float = Field(1e-4, gt=0.0, description="rad/s^2/sqrt(Hz)")
    imu_accel_bias_rw: float = Field(1e-3, gt=0.0, description="m/s^3/sqrt(Hz)")
    lidar_noise_m: float = Field(0.03, gt=0.0, description="point-to-plane residual, 1 sigma")
    lio_max_iterations: int = Field(5, ge=1, le=50, description="plane searches per sweep")
    lio_steps_per_search: int = Field(
        4, ge=1, le=20, description="Gauss-Newton steps on one search's planes"
    )
    degeneracy_ratio: float = Field(
        0.15,
        gt=0.0,
        lt=1.0,
        description="translation information under this share of its best axis is degenerate",
    )
    lio_plane_neighbors: int = Field(
        10, ge=3, le=20, description="map points per plane fit in the filter"
    )
    lio_plane_tolerance_m: float = Field(
        0.05, gt=0.0, description="max distance of a neighbour to its plane in the filter, near"
    )
    lio_plane_tolerance_per_m: float = Field(
        0.0025,
        ge=0.0,
        description="... widened by this per metre of range: far points are noisier, and a "
        "tight tolerance refuses most of their planes and keeps the tilted ones",
    )
    lio_replan_tolerance: float = Field(
        0.01,
        gt=0.0,
        description="search the planes again when the update moved the points more than this "
        "(m, at their median range) from where the planes were found",
    )
    lio_residual_scale_m: float = Field(
        0.2,
        gt=0.0,
        description="point-to-plane residuals over 3x this are outliers; the robust weights "
        "halve near a third of it",
    )
    lio_residual_scale_per_m: float = Field(
        0.01, ge=0.0, description="... widened by this per metre of the point's range"
    )
    lio_refine_extrinsic: bool = Field(
        True,
        description="refine the lidar-IMU extrinsic online, from the calibration's value: a "
        "unit's IMU axes sit off its nominal calibration (ICM-40609-D: 2 % cross-axis, ~1 deg), "
        "which tilts the gravity the filter levels the map by as the scanner turns",
    )
    lio_extrinsic_sigma_deg: float = Field(
        1.0, gt=0.0, description="the calibration's rotation uncertainty, 1 sigma"
    )
    lio_extrinsic_sigma_m: float = Field(
        0.02, gt=0.0, description="the calibration's translation uncertainty, 1 sigma"
    )
    lio_pace_sigma_mps: float = Field(
        0.2,
        ge=0.0,
        description="along a direction the lidar cannot see, the velocity is held at the last "
        "strides' mean with this 1 sigma per sweep; 0 leaves it to the accelerometer",
    )
    lio_pace_share: float = Field(
        0.35,
        ge=0.0,
        lt=1.0,
        description="... and the pace is held along the weakest direction of translation too "
        "where the lidar's information on it is under this share of its strongest (a street "
        "between long walls): on the 30-minute campus twin the accelerometer bias slid the "
        "filter 8-35 m along two streets at shares of 0.22-0.33 (degeneracy_ratio if lower)",
    )
    lio_pace_learn_share: float = Field(
        0.6,
        ge=0.0,
        le=1.0,
        description="the pace is learnt in full from sweeps whose weakest direction holds at "
        "least this share of the strongest, and less the nearer they are to lio_pace_share "
        "(on the 30-minute campus twin the accelerometer ran the velocity from 1.2 to 1.8 m/s "
        "along a street seen at 0.35-0.4, the pace learnt it and the hold then kept it)",
    )
    lio_pace_window_s: float = Field(
        2.0, gt=0.0, description="the mean velocity the pace is held at is over this long"
    )
    lio_max_points: int = Field(2000, ge=100, description="points per sweep in the update")
    init_window_s: float = Field(1.0, gt=0.0, description="IMU used to initialise at the start")
    imu_gap_s: float = Field(0.05, gt=0.0, description="a longer gap in the IMU means no IMU")

    @model_validator(mode="after")
    def _ranges(self) -> OdometryConfig:
        if self.min_range_m >= self.max_range_m:
            raise ValueError(
                f"min_range_m ({self.min_range_m}) must be below max_range_m ({self.max_range_m})"
            )
        if self.map_point_spacing_m >= self.map_voxel_m:
            raise ValueError("map_point_spacing_m must be smaller than map_voxel_m")
        return self

    @property
    def imu_sensor(self) -> Sensor:
        """The IMU whose samples the filter fuses: decided here, once, for every source."""
        return Sensor.external_imu if self.imu == "external" else Sensor.imu


class MappingConfig(BaseModel):
    """Global mapping over the odometry: submaps, loop closure and the pose graph (slam/mapping.py).
    Distances in metres, angles in degrees."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    submap_length_m: float = Field(10.0, gt=0.0, description="a new submap after this much path")
    submap_max_s: float = Field(30.0, gt=0.0, description="... or after this long (standing still)")
    loop_closure: bool = Field(True, description="search, verify and close loops between submaps")
    odometry_drift_per_m: float = Field(
        0.02,
        gt=0.0,
        description="the odometry's translation error, 1 sigma per metre of path: the between "
        "factors' noise, and how fast the loop search radius grows",
    )
    odometry_drift_deg_per_m: float = Field(
        0.05, gt=0.0, description="the odometry's heading error, 1 sigma per metre of path"
    )
    odometry_blind_drift_per_m: float = Field(
        0.5,
        ge=0.0,
        description="the odometry's error along a direction the lidar cannot see (a featureless "
        "tunnel: the filter holds the walking pace there), per metre walked so; on the campus "
        "twin's underpass the filter's distance was off by up to 0.7 m per metre",
    )
    odometry_weak_share: float = Field(
        0.4,
        ge=0.0,
        lt=1.0,
        description="where the odometry's information on its weakest direction of translation is "
        "under this share of its strongest (a street between long walls), the path walked counts "
        "as partly blind along it, growing to fully blind at odometry_blind_share: on the campus "
        "twin the filter slid 8-35 m along two streets at shares of 0.22-0.33",
    )
    odometry_blind_share: float = Field(
        0.15,
        ge=0.0,
        lt=1.0,
        description="... fully blind under this share (the filter's own degeneracy_ratio)",
    )
    gravity_sigma_deg: float = Field(
        0.5,
        gt=0.0,
        description="roll and pitch of each submap held to the filter's gravity, 1 sigma "
        "(LiDAR-inertial only: the lidar-only world is not levelled)",
    )
    loop_radius_m: float = Field(
        3.0, gt=0.0, description="search earlier submaps this near, plus 3 sigma of the drift"
    )
    loop_max_radius_m: float = Field(30.0, gt=0.0, description="... but never farther than this")
    loop_min_path_m: float = Field(
        30.0, gt=0.0, description="a loop spans at least this much path (nearer is odometry)"
    )
    loop_max_dz_m: float = Field(
        1.5,
        gt=0.0,
        description="refuse a loop that moves the new submap more than this vertically: the "
        "levelled filter's height error between two visits is far below a storey",
    )
    loop_max_tilt_deg: float = Field(
        1.0,
        gt=0.0,
        description="when levelled by gravity, refuse a loop that tilts the new submap against "
        "the old one by more than this (the filter's roll and pitch hold to tenths of a degree)",
    )
    loop_voxel_m: float = Field(0.25, gt=0.0, description="downsampling for the verification")
    loop_min_overlap: float = Field(
        0.4, gt=0.0, le=1.0, description="share of the new submap's points the old one explains"
    )
    loop_min_level_overlap: float = Field(
        0.3,
        ge=0.0,
        le=1.0,
        description="share of the new submap's level surfaces (floors, ground) that must lie on "
        "the old ones: walls alone also fit a look-alike room a storey up",
    )
    loop_inlier_m: float = Field(0.3, gt=0.0, description="a point within this of the old is in")
    loop_max_rmse_m: float = Field(0.1, gt=0.0, description="RMS of the inliers' distances")
    loop_min_conditioning: float = Field(
        0.1,
        gt=0.0,
        lt=1.0,
        description="refuse a fit whose weakest translation direction holds less than this share "
        "of the next one's information (a corridor slides along itself)",
    )
    loop_min_open_conditioning: float = Field(
        0.005,
        gt=0.0,
        lt=1.0,
        description="... or less than this share of the strongest's (an open field slides in "
        "its plane; outdoors the ground dominates, so this is loose)",
    )
    loop_max_ambiguity: float = Field(
        0.95,
        gt=0.0,
        description="refuse a fit when, seen from above, another horizontal shift of the new "
        "submap's structure (walls, trees) shares this share of the fit's own cells or more "
        "with the old one: a repetitive facade fits one bay along. Registration is tried once "
        "from the better shift",
    )
    loop_ambiguity_reach_m: float = Field(
        10.0, gt=0.0, description="... looking for such shifts this far from the fit"
    )
    loop_sigma_m: float = Field(0.02, gt=0.0, description="a verified loop's translation, 1 sigma")
    loop_sigma_deg: float = Field(0.2, gt=0.0, description="a verified loop's rotation, 1 sigma")
    loop_candidates: int = Field(3, ge=1, description="verify at most this many per new submap")
    loop_appearance: bool = Field(
        True,
        description="when no candidate by position holds, search every earlier submap by "
        "appearance (ORB on the view from above), for drift beyond the search radius",
    )
    loop_min_orb_inliers: int = Field(
        15, ge=5, description="ORB matches that must agree on the motion (RANSAC inliers)"
    )
    loop_appearance_correction_m: float = Field(
        3.0, gt=0.0, description="the registration may move j this far from the image's guess"
    )
    rerun_slam: bool = Field(
        False,
        description="at the stop, run SLAM again over the whole recording instead of placing "
        "the live SLAM's submaps (slower: minutes for a long scan)",
    )
    live_wait_s: float = Field(
        60.0,
        ge=0.0,
        description="at the stop, wait this long for the live SLAM to finish its submaps before "
        "running SLAM again over the recording",
    )
