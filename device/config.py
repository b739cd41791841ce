"""The scanner's one configuration tree.

Sources, strongest first: `SCANNER_*` environment variables (nested with `__`, for example
`SCANNER_SLAM__MAX_RANGE_M=50`), then the TOML file (`--config FILE`, by default
`/etc/scanner/scanner.toml` when it exists), then the defaults below. A snapshot of the
result is saved next to every output.
"""

from __future__ import annotations

import json
import tomllib
from contextvars import ContextVar
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from device.button import ButtonConfig
from device.led import LedConfig
from drivers.config import CameraConfig, ImuConfig, LidarConfig
from drivers.sessions.manifest import CameraCalibration
from drivers.sessions.marks import REFERENCE_POINT_LIDAR_M
from products.map import ProductsConfig
from slam.config import MappingConfig, OdometryConfig
from splat.config import SplatConfig

DEFAULT_CONFIG_PATH = Path("/etc/scanner/scanner.toml")
_toml_path: ContextVar[Path | None] = ContextVar("_toml_path", default=None)


class ConfigError(ValueError):
    """The configuration cannot be loaded; the message says where and why."""


class ApiConfig(BaseModel):
    """The HTTP API and web UI."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str = Field("0.0.0.0", description="address to listen on")
    port: int = Field(8080, ge=0, lt=65536, description="0: any free port")
    token: str = Field(
        "",
        description="bearer token; empty: SCANNER_API_TOKEN, else one made on first start and"
        " kept in the data directory (mode 0600)",
    )


class ScannerConfig(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SCANNER_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    data_dir: Path = Field(Path("/var/lib/scanner"), description="sessions and products")
    storage_reserve_mb: int = Field(
        500, ge=0, description="free space a scan never uses: none starts below it, one stops at it"
    )
    slam: OdometryConfig = OdometryConfig()
    mapping: MappingConfig = MappingConfig()
    lidar: LidarConfig = LidarConfig()
    imu: ImuConfig = ImuConfig()
    camera: CameraConfig = CameraConfig()
    api: ApiConfig = ApiConfig()
    products: ProductsConfig = ProductsConfig()
    splat: SplatConfig = SplatConfig()
    button: ButtonConfig = ButtonConfig()
    led: LedConfig = LedConfig()
    camera_calibration: CameraCalibration | None = Field(
        None, description="intrinsics and T_lidar_camera, saved into each session; colours the map"
    )
    reference_point_lidar_m: tuple[float, float, float] = Field(
        REFERENCE_POINT_LIDAR_M,
        description="the point a mark measures (the handle's tip, held on a control point), in "
        "the lidar frame",
    )
    shutdown_command: list[str] = Field(
        ["systemctl", "poweroff"],
        description="run on a long press, after the scan is stopped; empty: stop the daemon only",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        path = _toml_path.get()
        if path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)


def _explain(exc: ValidationError) -> str:
    parts = []
    for e in exc.errors():
        where = ".".join(str(x) for x in e["loc"]) or "config"
        got = f" (got {e['input']!r})" if e["type"] != "missing" and "input" in e else ""
        parts.append(f"{where}: {e['msg']}{got}")
    return "; ".join(parts)


def load_config(path: Path | None = None) -> ScannerConfig:
    """Load and validate the configuration. `path` None means the default file, if any."""
    if path is None:
        path = DEFAULT_CONFIG_PATH if DEFAULT_CONFIG_PATH.exists() else None
    elif not Path(path).is_file():
        raise ConfigError(f"config file not found: {path}")
    if path is not None:
        try:
            tomllib.loads(Path(path).read_text())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: not valid TOML ({exc})") from exc
        except OSError as exc:  # the default path can be a folder or unreadable
            raise ConfigError(f"{path}: cannot read ({exc})") from exc
    token = _toml_path.set(Path(path) if path else None)
    try:
        return ScannerConfig()
    except ValidationError as exc:
        where = f"{path} or SCANNER_* variables" if path else "SCANNER_* variables"
        raise ConfigError(f"invalid configuration ({where}): {_explain(exc)}") from exc
    finally:
        _toml_path.reset(token)


def with_sensor_overrides(
    config: ScannerConfig,
    *,
    lidar_ip: str | None = None,
    host_ip: str | None = None,
    imu_port: Path | None = None,
    camera: str | None = None,
) -> ScannerConfig:
    """`config` with the sensor settings that were given in place of its own (an IMU port or a
    camera source also turns that sensor on), validated like the file. Raises ValueError (a
    pydantic ValidationError) for a bad value."""
    overrides = {
        "lidar": {
            **({"lidar_ip": lidar_ip} if lidar_ip else {}),
            **({"host_ip": host_ip} if host_ip else {}),
        },
        "imu": {"port": imu_port, "enabled": True} if imu_port else {},
        "camera": {"source": camera, "enabled": True} if camera else {},
    }
    dumped = config.model_dump()
    return type(config).model_validate(
        {**dumped, **{k: {**dumped[k], **v} for k, v in overrides.items()}}
    )


def save_snapshot(config: ScannerConfig, output: Path) -> Path:
    """Write the configuration used to make `output` beside it, as `<output>.config.json`."""
    snap = output.with_name(output.name + ".config.json")
    snap.write_text(json.dumps(config.model_dump(mode="json"), indent=2) + "\n")
    return snap
