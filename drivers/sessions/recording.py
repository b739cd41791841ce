"""raw.mcap: the recording, ROS 2 messages (CDR) in zstd-compressed MCAP chunks."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

from mcap.reader import make_reader
from mcap.writer import CompressionType, Writer

from drivers.frames import CameraFrame, ImuSample, LidarSweep
from drivers.sessions import rosmsg
from drivers.source import Sensor, Tagged

log = logging.getLogger(__name__)


class RecordingWriter:
    """Writes frames to an MCAP file with the session topics. Log times are the frames' times."""

    def __init__(self, path: Path, chunk_size: int = 4 * 1024 * 1024) -> None:
        self._file = open(path, "wb")  # noqa: SIM115 - closed in close()
        self._writer = Writer(self._file, chunk_size=chunk_size, compression=CompressionType.ZSTD)
        self._writer.start(profile="ros2", library="handheld-scanner")
        self._channels: dict[str, int] = {}
        self._seq: dict[str, int] = {}
        self.message_count = 0

    def _channel(self, topic: str) -> int:
        if topic not in self._channels:
            typename = rosmsg.TYPES[topic]
            schema = self._writer.register_schema(
                name=typename, encoding="ros2msg", data=rosmsg.msgdef(typename).encode()
            )
            self._channels[topic] = self._writer.register_channel(
                topic=topic, message_encoding="cdr", schema_id=schema
            )
            self._seq[topic] = 0
        return self._channels[topic]

    def _write(self, topic: str, t_ns: int, data: bytes) -> None:
        channel = self._channel(topic)
        self._writer.add_message(
            channel_id=channel,
            log_time=t_ns,
            publish_time=t_ns,
            data=data,
            sequence=self._seq[topic],
        )
        self._seq[topic] += 1
        self.message_count += 1

    def write(self, tagged: Tagged) -> None:
        """One frame, on its sensor's topic."""
        sensor, frame = tagged.sensor, tagged.frame
        if sensor == Sensor.lidar:
            self.write_sweep(frame)
        elif sensor in (Sensor.imu, Sensor.external_imu):
            self.write_imu(frame, rosmsg.TOPICS[sensor])
        elif sensor == Sensor.camera:
            self.write_image(frame)
        else:
            raise TypeError(f"cannot record {sensor!r}")

    def write_sweep(self, sweep: LidarSweep) -> None:
        self._write(rosmsg.LIDAR_TOPIC, sweep.t_ns, rosmsg.encode_sweep(sweep))

    def write_imu(self, sample: ImuSample, topic: str = rosmsg.IMU_TOPIC) -> None:
        self._write(topic, sample.t_ns, rosmsg.encode_imu(sample))

    def write_image(self, frame: CameraFrame) -> None:
        self._write(rosmsg.IMAGE_TOPIC, frame.t_ns, rosmsg.encode_image(frame))

    def write_camera_info(self, t_ns: int, info: dict) -> None:
        self._write(rosmsg.CAMERA_INFO_TOPIC, t_ns, rosmsg.encode_camera_info(t_ns, info))

    def flush(self) -> None:
        """Finish the chunk in progress and hand everything to the OS (no fsync)."""
        self._writer.flush()

    def fileno(self) -> int:
        return self._file.fileno()

    def close(self) -> None:
        self._writer.finish()
        self._file.flush()
        self._file.close()

    def __enter__(self) -> RecordingWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


_DECODERS = {
    rosmsg.LIDAR_TOPIC: rosmsg.decode_sweep,
    rosmsg.IMU_TOPIC: rosmsg.decode_imu,
    rosmsg.EXTERNAL_IMU_TOPIC: rosmsg.decode_imu,
    rosmsg.IMAGE_TOPIC: rosmsg.decode_image,
}


def count_messages(path: Path, topic: str) -> int:
    """Messages on a topic, from the MCAP summary (0 if the file has none, e.g. unclosed)."""
    try:
        with open(path, "rb") as f:
            summary = make_reader(f).get_summary()
    except Exception:  # an unclosed or torn file has no (readable) summary
        return 0
    if summary is None or summary.statistics is None:
        return 0
    ids = [c.id for c in summary.channels.values() if c.topic == topic]
    return sum(summary.statistics.channel_message_counts.get(i, 0) for i in ids)


def read_frames(
    path: Path, topics: tuple[str, ...] = tuple(_DECODERS)
) -> Iterator[tuple[str, object]]:
    """(topic, frame) in file order (the recorder writes in time order): LidarSweep, ImuSample
    or CameraFrame. Reads sequentially, so an unclosed file gives every complete chunk and then
    stops at its torn tail with a warning instead of failing."""
    from mcap.records import Channel, Message
    from mcap.stream_reader import StreamReader

    wanted: dict[int, str] = {}
    with open(path, "rb") as f:
        records = StreamReader(f, validate_crcs=True).records
        while True:
            try:
                record = next(records)
            except StopIteration:
                return
            except Exception as exc:  # a torn tail: EOF inside a record, a bad CRC
                log.warning(
                    "%s: stopped at an incomplete record (%s: %s)", path, type(exc).__name__, exc
                )
                return
            if isinstance(record, Channel) and record.topic in topics:
                wanted[record.id] = record.topic
            elif isinstance(record, Message) and record.channel_id in wanted:
                topic = wanted[record.channel_id]
                yield topic, _DECODERS[topic](record.data)
