"""Recovery of sessions that were never closed (power cut, kill -9, crash).

An unclosed raw.mcap has complete chunks followed by, at worst, a torn one and no summary.
Recovery copies every message of the complete chunks into a new, properly finished MCAP,
keeps the original beside it as raw.mcap.unclosed (nothing recorded is ever thrown away), and
marks the session `recovered` with the duration it got back.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from mcap.records import Channel, Message, Schema
from mcap.stream_reader import StreamReader
from mcap.writer import CompressionType, Writer

from drivers.sessions.manifest import RECORDING, SessionState, read_manifest, write_manifest

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RecoveryResult:
    messages: int
    first_ns: int
    last_ns: int
    stopped_by: str  # why reading stopped: "end of file", or the error at the torn tail

    @property
    def duration_s(self) -> float:
        return (self.last_ns - self.first_ns) * 1e-9


def salvage_mcap(src: Path, dst: Path) -> RecoveryResult:
    """Copy every message of the complete chunks of src into a finished MCAP at dst."""
    schemas: dict[int, int] = {}
    channels: dict[int, int] = {}
    n, t_min, t_max = 0, None, None
    stopped_by = "end of file"
    with open(src, "rb") as fin, open(dst, "wb") as fout:
        writer = Writer(fout, chunk_size=4 * 1024 * 1024, compression=CompressionType.ZSTD)
        writer.start(profile="ros2", library="handheld-scanner recovery")
        try:
            for record in StreamReader(fin, validate_crcs=True).records:
                if isinstance(record, Schema) and record.id not in schemas:
                    schemas[record.id] = writer.register_schema(
                        record.name, record.encoding, record.data
                    )
                elif isinstance(record, Channel) and record.id not in channels:
                    channels[record.id] = writer.register_channel(
                        record.topic,
                        record.message_encoding,
                        schemas.get(record.schema_id, 0),
                        record.metadata,
                    )
                elif isinstance(record, Message) and record.channel_id in channels:
                    writer.add_message(
                        channels[record.channel_id],
                        record.log_time,
                        record.data,
                        record.publish_time,
                        record.sequence,
                    )
                    n += 1
                    t_min = record.log_time if t_min is None else min(t_min, record.log_time)
                    t_max = record.log_time if t_max is None else max(t_max, record.log_time)
        except Exception as exc:  # the torn tail: EOF inside a record, a bad CRC, garbage
            stopped_by = f"{type(exc).__name__}: {exc}"[:200]
        writer.finish()
        fout.flush()
        os.fsync(fout.fileno())
    return RecoveryResult(n, t_min or 0, t_max or 0, stopped_by)


def needs_recovery(session_dir: Path) -> bool:
    try:
        return read_manifest(session_dir).state == SessionState.recording
    except (OSError, ValueError):
        return False


def recover_session(session_dir: Path) -> RecoveryResult:
    """Make an unclosed session readable again and mark it `recovered`."""
    session_dir = Path(session_dir)
    manifest = read_manifest(session_dir)
    raw = session_dir / RECORDING
    tmp = session_dir / (RECORDING + ".recovering")
    result = salvage_mcap(raw, tmp)
    raw.rename(session_dir / (RECORDING + ".unclosed"))
    tmp.rename(raw)
    log.warning(
        "recovered session %s: %d messages, %.1f s (%s)",
        manifest.id,
        result.messages,
        result.duration_s,
        result.stopped_by,
    )
    stats = {
        **manifest.stats,
        "recovered_messages": result.messages,
        "recovered_duration_s": round(result.duration_s, 3),
        "recovery_stop": result.stopped_by,
    }
    update = {"state": SessionState.recovered, "stats": stats}
    if result.messages:
        update |= {"start_ns": result.first_ns, "end_ns": result.last_ns}
    write_manifest(session_dir, manifest.model_copy(update=update))
    return result


def recover_all(root: Path) -> list[tuple[Path, RecoveryResult]]:
    """On start: recover every session under root that was never closed."""
    done = []
    for d in sorted(p for p in Path(root).iterdir() if p.is_dir()):
        if needs_recovery(d) and (d / RECORDING).exists():
            done.append((d, recover_session(d)))
    return done
