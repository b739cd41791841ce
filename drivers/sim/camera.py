"""The twin's camera: a pinhole or equidistant-fisheye model and a ray-cast renderer.

Pixel centres sit at integer coordinates (OpenCV); the camera frame is x right, y down,
z forward. `pixel_rays` and `project` are exact inverses, so a mesh vertex renders where the
true pose says it should.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import lru_cache

import numba as nb
import numpy as np
from PIL import Image

from drivers.sim.scenes.raycast import Raycaster
from drivers.sim.scenes.scene import Scene

SKY_HORIZON_RGB = np.array([0.78, 0.84, 0.9])
SKY_ZENITH_RGB = np.array([0.35, 0.55, 0.85])
DEFAULT_AMBIENT = 0.4
DEFAULT_LIGHT_DIR_WORLD = np.array([0.35, 0.55, 0.76])  # towards the sun: high, from +x +y
_NEWTON_STEPS = 30


@dataclass(frozen=True)
class CameraModel:
    width: int = 1280
    height: int = 720
    fx: float = 640.0  # 90 deg horizontal field of view at 1280 px
    fy: float = 640.0
    cx: float = 639.5
    cy: float = 359.5
    model: str = "pinhole"  # or "fisheye": equidistant, Kannala-Brandt k1..k4
    k: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)  # fisheye distortion

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0 or self.fx <= 0 or self.fy <= 0:
            raise ValueError(f"image size and focal lengths must be positive: {self}")
        if self.model not in ("pinhole", "fisheye"):
            raise ValueError(f"model must be 'pinhole' or 'fisheye', got {self.model!r}")
        if len(self.k) != 4:
            raise ValueError(f"k must hold k1..k4, got {self.k!r}")
        object.__setattr__(self, "k", tuple(float(x) for x in self.k))  # hashable, for the cache

    @classmethod
    def from_hfov(
        cls, hfov_deg: float, width: int = 1280, height: int = 720, model: str = "pinhole", k=None
    ) -> CameraModel:
        """Square pixels, principal point at the centre, the given horizontal field of view."""
        half = np.radians(hfov_deg) / 2.0
        f = (width / 2.0) / (np.tan(half) if model == "pinhole" else half)
        k = tuple(float(x) for x in k) if k is not None else (0.0, 0.0, 0.0, 0.0)
        return cls(width, height, f, f, (width - 1) / 2.0, (height - 1) / 2.0, model, k)

    def pixel_rays(self) -> np.ndarray:
        """[H*W, 3] float64 unit directions in the camera frame, row-major (index v*W + u).

        Cached per camera model, and read-only.
        """
        return _pixel_rays(self)

    def unproject(self, uv: np.ndarray) -> np.ndarray:
        """uv [N, 2] pixel coordinates -> [N, 3] float64 unit ray directions, camera frame."""
        uv = np.asarray(uv, dtype=np.float64).reshape(-1, 2)
        a = (uv[:, 0] - self.cx) / self.fx
        b = (uv[:, 1] - self.cy) / self.fy
        if self.model == "pinhole":
            d = np.column_stack([a, b, np.ones(len(uv))])
            return d / np.linalg.norm(d, axis=1, keepdims=True)
        theta_d = np.hypot(a, b)
        theta = self._undistort_theta(theta_d)
        scale = np.where(theta_d > 0.0, np.sin(theta) / np.maximum(theta_d, 1e-300), 0.0)
        return np.column_stack([a * scale, b * scale, np.cos(theta)])

    def project(self, points_camera: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """points_camera [N, 3] -> (uv [N, 2] float64 pixels, valid [N] bool).

        valid: in front of the camera (z > 0) and inside the image (pixel edges included).
        """
        p = np.asarray(points_camera, dtype=np.float64).reshape(-1, 3)
        x, y, z = p[:, 0], p[:, 1], p[:, 2]
        in_front = z > 0.0
        if self.model == "pinhole":
            z_safe = np.where(in_front, z, 1.0)
            a, b = x / z_safe, y / z_safe
        else:
            r = np.hypot(x, y)
            theta = np.arctan2(r, z)
            t2 = theta * theta
            k1, k2, k3, k4 = self.k
            theta_d = theta * (1.0 + t2 * (k1 + t2 * (k2 + t2 * (k3 + t2 * k4))))
            scale = np.where(r > 0.0, theta_d / np.where(r > 0.0, r, 1.0), 0.0)
            a, b = x * scale, y * scale
        uv = np.column_stack([self.fx * a + self.cx, self.fy * b + self.cy])
        inside = (
            (uv[:, 0] >= -0.5)
            & (uv[:, 0] < self.width - 0.5)
            & (uv[:, 1] >= -0.5)
            & (uv[:, 1] < self.height - 0.5)
        )
        return uv, in_front & inside

    def camera_info(self) -> dict:
        """The fields of a ROS sensor_msgs/CameraInfo."""
        fisheye = self.model == "fisheye"
        return {
            "width": self.width,
            "height": self.height,
            "distortion_model": "equidistant" if fisheye else "plumb_bob",
            "d": [float(x) for x in self.k] if fisheye else [0.0] * 5,
            "k": [self.fx, 0.0, self.cx, 0.0, self.fy, self.cy, 0.0, 0.0, 1.0],
            "r": [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
            "p": [self.fx, 0.0, self.cx, 0.0, 0.0, self.fy, self.cy, 0.0, 0.0, 0.0, 1.0, 0.0],
        }

    def _undistort_theta(self, theta_d: np.ndarray) -> np.ndarray:  # [N] -> [N]
        """Invert theta_d = theta (1 + k1 theta^2 + ... + k4 theta^8) by Newton's method."""
        k1, k2, k3, k4 = self.k
        theta = theta_d.copy()
        if not any(self.k):
            return theta
        for _ in range(_NEWTON_STEPS):
            t2 = theta * theta
            f = theta * (1.0 + t2 * (k1 + t2 * (k2 + t2 * (k3 + t2 * k4)))) - theta_d
            df = 1.0 + t2 * (3.0 * k1 + t2 * (5.0 * k2 + t2 * (7.0 * k3 + t2 * 9.0 * k4)))
            theta = theta - f / df
        return theta


@lru_cache(maxsize=4)  # 22 MB each at 1280 x 720
def _pixel_rays(camera: CameraModel) -> np.ndarray:
    v, u = np.mgrid[0 : camera.height, 0 : camera.width]
    rays = camera.unproject(np.column_stack([u.ravel(), v.ravel()]).astype(np.float64))
    rays.setflags(write=False)
    return rays


def render(
    raycaster: Raycaster,
    scene: Scene,
    camera: CameraModel,
    T_world_camera: np.ndarray,  # [4, 4]
    light_dir_world: np.ndarray = DEFAULT_LIGHT_DIR_WORLD,  # [3] towards the light
    ambient: float = DEFAULT_AMBIENT,
) -> np.ndarray:
    """One ray per pixel -> uint8 [H, W, 3] RGB.

    Colour = textured albedo x (ambient + (1 - ambient) x wrapped Lambert), with the wrapped
    Lambert term (1 + n.l) / 2: surfaces facing away from the sun stay visible (indoors there is
    no sunlight, only the shape matters) while sunlit faces are clearly brighter outdoors.
    Misses see a sky gradient.
    """
    T = np.asarray(T_world_camera, dtype=np.float64)
    R, t = T[:3, :3], T[:3, 3].copy()
    dirs = camera.pixel_rays() @ R.T  # [H*W, 3] world frame
    hits = raycaster.cast(t, dirs)
    points = np.empty_like(dirs)
    _hit_points(t, dirs, hits.range_m, points)
    albedo = scene.albedo_at(np.maximum(hits.face_id, 0), points)
    light = np.asarray(light_dir_world, dtype=np.float64)
    image = np.empty((len(dirs), 3), dtype=np.uint8)
    _compose(dirs, hits.face_id, hits.normal_world, albedo, light / np.linalg.norm(light),
             ambient, SKY_HORIZON_RGB, SKY_ZENITH_RGB, image)  # fmt: skip
    return image.reshape(camera.height, camera.width, 3)


@nb.njit(cache=True, parallel=True)
def _hit_points(
    origin: np.ndarray,  # [3]
    dirs: np.ndarray,  # [N, 3]
    range_m: np.ndarray,  # [N], inf for misses
    points: np.ndarray,  # [N, 3] written: the hit point, the origin for misses
) -> None:
    for i in nb.prange(len(dirs)):
        r = range_m[i] if np.isfinite(range_m[i]) else 0.0
        for j in range(3):
            points[i, j] = origin[j] + r * dirs[i, j]


@nb.njit(cache=True)
def shading(cos_to_light, ambient):  # scalars, or arrays from Python
    """The renderer's light: ambient + (1 - ambient) x wrapped Lambert (1 + n.l) / 2."""
    return ambient + (1.0 - ambient) * 0.5 * (1.0 + cos_to_light)


@nb.njit(cache=True, parallel=True)
def _compose(
    dirs: np.ndarray,  # [N, 3] world frame
    face_id: np.ndarray,  # [N], -1 for misses
    normal: np.ndarray,  # [N, 3]
    albedo: np.ndarray,  # [N, 3] float32
    light: np.ndarray,  # [3] unit, towards the light
    ambient: float,
    sky_horizon: np.ndarray,  # [3]
    sky_zenith: np.ndarray,  # [3]
    image: np.ndarray,  # [N, 3] uint8, written
) -> None:
    for i in nb.prange(len(dirs)):
        if face_id[i] >= 0:
            cos = normal[i, 0] * light[0] + normal[i, 1] * light[1] + normal[i, 2] * light[2]
            shade = shading(cos, ambient)
            for j in range(3):
                image[i, j] = np.uint8(min(255.0, albedo[i, j] * shade * 255.0 + 0.5))
        else:
            up = np.sqrt(min(max(dirs[i, 2], 0.0), 1.0))
            for j in range(3):
                c = sky_horizon[j] + (sky_zenith[j] - sky_horizon[j]) * up
                image[i, j] = np.uint8(min(255.0, c * 255.0 + 0.5))


def encode_jpeg(image: np.ndarray, quality: int = 90, exposure_s: float | None = None) -> bytes:
    """image [H, W, 3] uint8 RGB -> JPEG bytes, with the exposure time in its EXIF if given."""
    from PIL.TiffImagePlugin import IFDRational

    exif = Image.Exif()
    if exposure_s is not None:  # Exif IFD 0x8769, tag ExposureTime 0x829A, a rational in seconds
        exif.get_ifd(0x8769)[0x829A] = IFDRational(round(exposure_s * 1e6), 1_000_000)
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8)).save(
        buffer, format="JPEG", quality=quality, exif=exif
    )
    return buffer.getvalue()
