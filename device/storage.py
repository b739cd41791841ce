"""Storage: where sessions live, how much room is left, and the guard that keeps a reserve."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from drivers.sessions.manifest import GEOREF, MANIFEST, PRODUCTS, SessionManifest, read_manifest

# what a scan writes, measured: Mid-360 at 200k points/s (26 B/point, zstd ~0.6) + IMU +
# 10 Hz 720p JPEG; refined at run time from the bytes actually written
DEFAULT_RECORD_RATE_BPS = 4.0e6


class StorageFullError(RuntimeError):
    """Not enough free space to start (or go on with) a scan."""


@dataclass(frozen=True)
class StorageStatus:
    total_bytes: int
    free_bytes: int
    reserve_bytes: int
    record_rate_bps: float

    @property
    def usable_bytes(self) -> int:
        return max(self.free_bytes - self.reserve_bytes, 0)

    @property
    def minutes_left(self) -> float:
        return self.usable_bytes / self.record_rate_bps / 60.0


class SessionStore:
    """The sessions under one data directory."""

    def __init__(self, root: Path, reserve_bytes: int = 500_000_000) -> None:
        self.root = Path(root)
        self.reserve_bytes = reserve_bytes
        self.root.mkdir(parents=True, exist_ok=True)

    def status(self, record_rate_bps: float = DEFAULT_RECORD_RATE_BPS) -> StorageStatus:
        usage = shutil.disk_usage(self.root)
        return StorageStatus(usage.total, usage.free, self.reserve_bytes, record_rate_bps)

    def check_can_record(self, record_rate_bps: float = DEFAULT_RECORD_RATE_BPS) -> StorageStatus:
        """Raise StorageFullError if less than the reserve (plus a minute of scanning) is free."""
        st = self.status(record_rate_bps)
        if st.usable_bytes < 60 * record_rate_bps:
            raise StorageFullError(
                f"{self.root}: {st.free_bytes / 1e6:.0f} MB free, {self.reserve_bytes / 1e6:.0f} MB"
                " must stay free: delete sessions to make room"
            )
        return st

    def new_session_dir(self, now: datetime | None = None) -> Path:
        stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
        path, k = self.root / stamp, 1
        while path.exists():
            k += 1
            path = self.root / f"{stamp}-{k}"
        return path

    def sessions(self) -> list[tuple[Path, SessionManifest]]:
        """Every readable session, oldest first; folders without a manifest are skipped."""
        out = []
        for d in sorted(p for p in self.root.iterdir() if (p / MANIFEST).is_file()):
            try:
                out.append((d, read_manifest(d)))
            except ValueError:
                continue
        return out

    def get(self, session_id: str) -> Path:
        """The session's folder: a session's id is its folder's name (a folder copied from
        another keeps the manifest's id, so that id names no one session); KeyError for
        anything else, a path that tries to leave the data directory included."""
        if not session_id or "/" in session_id or ".." in session_id or session_id.startswith("."):
            raise KeyError(session_id)
        if (self.root / session_id / MANIFEST).is_file():
            return self.root / session_id
        raise KeyError(session_id)

    def product(self, session_id: str, name: str) -> Path:
        """A file in the session's products/ (or products/georef/, as "georef/NAME"); KeyError
        for any name that is not one (hidden files, files still being written, paths that try
        to leave the folder)."""
        folder = self.get(session_id) / PRODUCTS
        parts = name.split("/")
        if len(parts) == 2 and parts[0] == GEOREF:  # the georeferenced products' folder
            folder, name = folder / GEOREF, parts[1]
        if not name or "/" in name or "\\" in name or name.startswith(".") or ".." in name:
            raise KeyError(name)
        if name.endswith(".tmp"):
            raise KeyError(name)
        path = folder / name
        if not path.is_file():
            raise KeyError(name)
        return path

    def delete(self, session_id: str) -> None:
        shutil.rmtree(self.get(session_id))
