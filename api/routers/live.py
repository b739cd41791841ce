"""WS /api/v1/live: the newest pose and the map's new points, 10 times a second while scanning.

Binary messages, little-endian (device/live.py packs them):
    header: magic "SLV1", uint32 kind, uint32 seq, uint32 n
    kind 1, update: float64 t_s, float64 lag_s, float32[7] pose (x y z qx qy qz qw),
                    float32[n*3] points new to the map since the last message (world frame, m)
    kind 2, trajectory: float32[n*3] the positions so far; seq 0 starts a new scan
A JSON text message {"type": "scan", "scan_id", "generation"} also announces a new scan.
The token comes as the `token` query parameter (browsers cannot set WebSocket headers) or as a
bearer header; a wrong one closes the socket with code 1008 (policy violation).
"""

import asyncio
import time

import numpy as np
from fastapi import APIRouter, WebSocket, WebSocketDisconnect, status
from scipy.spatial.transform import Rotation

from api.deps import token_ok
from device.live import pack_trajectory, pack_update

router = APIRouter(tags=["live"])

PERIOD_S = 0.1
MAX_POINTS_PER_MESSAGE = 100_000


@router.websocket("/live")
async def live(ws: WebSocket, token: str | None = None) -> None:
    app = ws.app
    header = ws.headers.get("authorization", "")
    given = token or (header[7:] if header.lower().startswith("bearer ") else None)
    if not token_ok(given, app.state.token):
        app.state.metrics.auth_failures.inc()
        await ws.close(code=status.WS_1008_POLICY_VIOLATION, reason="missing or wrong token")
        return
    await ws.accept()
    daemon = app.state.daemon
    buf = daemon.live
    generation, cursor, seq = None, 0, 0
    app.state.metrics.live_clients.inc()
    try:
        while not app.state.exiting():
            t_next = time.monotonic() + PERIOD_S
            scan_id = daemon.current_scan_id()
            if buf.generation != generation:
                generation, cursor, seq = buf.generation, 0, 0
                await ws.send_json({"type": "scan", "scan_id": scan_id, "generation": generation})
                await ws.send_bytes(pack_trajectory(0, buf.trajectory()))
            pose = buf.pose
            if scan_id is not None or cursor < buf.n_points:
                points, cursor = buf.since(cursor, MAX_POINTS_PER_MESSAGE)
                seq += 1
                if pose is not None:
                    T = pose.T_world_lidar
                    pose7 = np.r_[T[:3, 3], Rotation.from_matrix(T[:3, :3]).as_quat()]
                    t_s, lag_s = pose.t_ns * 1e-9, time.monotonic() - pose.t_ns * 1e-9
                else:
                    pose7, t_s, lag_s = np.r_[np.zeros(6), 1.0], 0.0, 0.0
                await ws.send_bytes(pack_update(seq, t_s, lag_s, pose7, points))
            await asyncio.sleep(max(t_next - time.monotonic(), 0.0))
        await ws.close(code=status.WS_1001_GOING_AWAY, reason="the scanner is shutting down")
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        app.state.metrics.live_clients.dec()
