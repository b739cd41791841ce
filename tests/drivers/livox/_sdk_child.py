"""Run the official Livox SDK2 (py-livox2) against the emulator; run by test_official_sdk.py.

Must run inside a private network namespace holding only the loopback interface
(``unshare -rn``): the SDK broadcasts its discovery to 255.255.255.255 every second, and in
such a namespace that broadcast cannot leave the machine. The child refuses to start the SDK
if it sees any other interface.

    python -m tests.drivers.livox._sdk_child OUT.pkl
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import pickle
import socket
import struct
import sys
import tempfile
import threading
import time
from pathlib import Path

LIDAR_IP = "127.0.0.2"
HOST_IP = "127.0.0.1"
N_SWEEPS = 8
POINTS_PER_SWEEP = 2_400

SDK_CONFIG = {
    "lidar_log_enable": False,
    "lidar_log_cache_size_MB": 0,
    "lidar_log_path": "./",
    "MID360": {
        "lidar_net_info": {
            "cmd_data_port": 56100,
            "push_msg_port": 56200,
            "point_data_port": 56300,
            "imu_data_port": 56400,
            "log_data_port": 56500,
        },
        "host_net_info": [
            {
                "host_ip": HOST_IP,
                "lidar_ip": [LIDAR_IP],
                "cmd_data_port": 56101,
                "push_msg_port": 56201,
                "point_data_port": 56301,
                "imu_data_port": 56401,
                "log_data_port": 56501,
            }
        ],
    },
}


def isolate_check_and_bring_up_lo() -> None:
    names = [name for _, name in socket.if_nameindex()]
    if names != ["lo"]:
        sys.exit(f"refusing to run the SDK: interfaces {names} besides lo (not isolated)")
    siocgifflags, siocsifflags, iff_up = 0x8913, 0x8914, 0x1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        ifr = fcntl.ioctl(s, siocgifflags, struct.pack("16sH14x", b"lo", 0))
        flags = struct.unpack_from("16sH", ifr)[1]
        fcntl.ioctl(s, siocsifflags, struct.pack("16sH14x", b"lo", flags | iff_up))


def main(out: Path) -> None:
    logging.basicConfig(level=logging.WARNING)
    isolate_check_and_bring_up_lo()

    import livox_sdk

    from drivers.livox.commands import WorkMode
    from drivers.livox.emulator import Mid360Emulator
    from drivers.livox.packets import DataType
    from tests.drivers.livox.sources import synthetic_frames

    source = list(synthetic_frames(N_SWEEPS, POINTS_PER_SWEEP))
    emu = Mid360Emulator(
        LIDAR_IP,
        None,  # knows no host until the SDK configures it
        source=iter(source),
        listen_broadcast=True,
        record_sent=True,
        work_mode=WorkMode.WAKE_UP,  # the SDK user has to start it
        imu_enabled=False,
        data_type=DataType.CARTESIAN_LOW,  # and select Cartesian high
    )
    got: dict[str, list] = {"info": [], "statuses": [], "points": [], "imu": []}
    lock = threading.Lock()

    def on_info(handle: int, dev_type: object) -> None:
        statuses = [
            livox_sdk.SetLivoxLidarPclDataType(handle, 1),
            livox_sdk.SetLivoxLidarWorkMode(handle, 1),
            livox_sdk.EnableLivoxLidarImuData(handle),
        ]
        with lock:
            got["info"].append((int(handle), int(dev_type)))
            got["statuses"].extend(statuses)

    def on_points(pkt: object) -> None:
        row = (int(pkt.ts), int(pkt.dot_num), int(pkt.time_interval), bytes(pkt.get_pts_data()))
        with lock:
            got["points"].append(row)

    def on_imu(pkt: object) -> None:
        with lock:
            got["imu"].append((int(pkt.ts), list(pkt.gyr), list(pkt.acc)))

    workdir = Path(tempfile.mkdtemp(prefix="livox-sdk-"))
    os.chdir(workdir)
    cfg = workdir / "mid360.json"
    cfg.write_text(json.dumps(SDK_CONFIG))
    with emu:
        livox_sdk.DisableLivoxSdkConsoleLogger()
        livox_sdk.SetLivoxLidarInfoChangeCallback(on_info)
        if not livox_sdk.LivoxLidarSdkInit(str(cfg)):
            sys.exit("LivoxLidarSdkInit failed")
        livox_sdk.SetLivoxLidarPointCloudCallBack(on_points)
        livox_sdk.SetLivoxLidarImuDataCallback(on_imu)
        finished = emu.wait_finished(timeout=20.0)
        time.sleep(0.3)  # the last packets in flight
        livox_sdk.LivoxLidarSdkUninit()
        state, counters = emu.state(), emu.counters()
        sent_points, sent_imu = emu.sent_packets("point"), emu.sent_packets("imu")
    with lock:
        result = dict(
            got,
            finished=finished,
            state=state,
            counters=counters,
            sent_points=sent_points,
            sent_imu=sent_imu,
            source=source,
            lidar_time_offset_ns=emu.lidar_time_offset_ns,
        )
    out.write_bytes(pickle.dumps(result))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
