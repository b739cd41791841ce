"""CPU cost of recording at the full sensor rate: Mid-360 200k points/s, 200 Hz IMU, 10 Hz JPEG.

    .venv/bin/python benchmarks/recorder.py [SESSION_DIR]

Loads a session's frames into memory (a twin session is made if none is given), then records
them into a new session as fast as possible and reports the CPU time per second of recorded
data: the recorder must stay under 15 % of one core.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from drivers.sessions.manifest import Calibration
from drivers.sessions.recorder import SessionRecorder
from drivers.sessions.replay import SessionSource
from drivers.sim.generate import SimSettings, generate_session


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        if len(sys.argv) > 1:
            src = Path(sys.argv[1])
        else:
            src = Path(tmp) / "twin"
            print("making a 10 s twin session (office, 1280x720 camera) ...")
            generate_session(src, SimSettings(scene="office", duration_s=10.0))
        frames = list(SessionSource(src).frames())
        span_s = (frames[-1].t_ns - frames[0].t_ns) * 1e-9
        rec = SessionRecorder(
            Path(tmp) / "out",
            "bench",
            Calibration(
                T_lidar_imu=[[1.0, 0, 0, 0], [0, 1.0, 0, 0], [0, 0, 1.0, 0], [0, 0, 0, 1.0]]
            ),
            [],
        )
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for f in frames:
            rec.write(f)
        rec.close()
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        size = (Path(tmp) / "out" / "raw.mcap").stat().st_size
        print(
            f"{len(frames)} frames, {span_s:.1f} s of data, {size / 1e6:.1f} MB "
            f"({size / span_s / 1e6:.2f} MB/s)"
        )
        share = 100 * cpu / span_s
        print(f"cpu {cpu:.2f} s, wall {wall:.2f} s: {share:.1f} % of one core at real rate")


if __name__ == "__main__":
    main()
