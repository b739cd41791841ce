"""Many Livox point packets decoded at once, vectorised with numpy.

:func:`decode_point_packets` takes a burst of datagrams (or one concatenated buffer) and
decodes all packets of one size with a single structured view, giving a :class:`PointBatch`
with the points in the input's packet order and the valid packets' headers. It checks what
:func:`~drivers.livox.packets.parse_data_header` checks and raises, or with errors="skip"
lists, the same :class:`~drivers.livox.errors.ProtocolError` subclasses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

import numpy as np

from drivers.livox.errors import BadFrameError, ProtocolError
from drivers.livox.framing import split_data_packets
from drivers.livox.packets import (
    DATA_HEADER,
    DATA_HEADER_SIZE,
    LINES,
    MAX_DATA_PACKET_SIZE,
    MAX_TIMESTAMP_NS,
    POINT_DTYPES,
    POINT_SIZES,
    DataType,
    parse_data_header,
    xyz_from_records,
)


@dataclass(frozen=True, slots=True)
class PointBatch:
    """Points of many packets, decoded together; per-packet fields in ``headers``."""

    xyz_m: np.ndarray  # [N, 3] float32
    reflectivity: np.ndarray  # [N] uint8
    tag: np.ndarray  # [N] uint8
    line: np.ndarray  # [N] uint8
    t_ns: np.ndarray  # [N] int64, lidar clock
    packet: np.ndarray  # [N] int64, row of each point's packet in ``headers``
    headers: np.ndarray  # [P] DATA_HEADER, the valid packets in input order
    source_index: np.ndarray  # [P] int64, each valid packet's position in the input
    errors: tuple[tuple[int, ProtocolError], ...] = field(default=())  # (input position, error)

    def __len__(self) -> int:
        return len(self.xyz_m)


@lru_cache(maxsize=64)
def _packet_dtype(length: int, data_type: int) -> np.dtype:
    n = (length - DATA_HEADER_SIZE) // POINT_SIZES[data_type]
    return np.dtype([("hdr", DATA_HEADER), ("pts", POINT_DTYPES[data_type], (n,))])


@lru_cache(maxsize=64)
def _raw_packet_dtype(length: int) -> np.dtype:
    return np.dtype([("hdr", DATA_HEADER), ("payload", "u1", (length - DATA_HEADER_SIZE,))])


def _check_headers(hdr: np.ndarray, size: int) -> list[ProtocolError | None]:
    """Vectorised parse_data_header checks for packets of one size: an error or None each."""
    length = hdr["length"].astype(np.int64)
    dtype = hdr["data_type"]
    record = np.zeros(len(hdr), dtype=np.int64)
    for k, s in POINT_SIZES.items():
        record[dtype == k] = s
    bad = (
        (length != size)
        | (record == 0)
        | (hdr["dot_num"].astype(np.int64) * record != size - DATA_HEADER_SIZE)
        | (hdr["timestamp"] > MAX_TIMESTAMP_NS)
    )
    errors: list[ProtocolError | None] = [None] * len(hdr)
    for i in np.flatnonzero(bad):
        try:  # the scalar path names the exact error
            row = hdr[i : i + 1].tobytes() + b"\0" * (size - DATA_HEADER_SIZE)
            if int(dtype[i]) == DataType.IMU and int(length[i]) == size:
                raise BadFrameError("an IMU packet where points were expected")
            parse_data_header(row)
            raise BadFrameError("bad point packet header")  # pragma: no cover
        except ProtocolError as e:
            errors[i] = e
    return errors


def decode_point_packets(
    packets: Sequence[bytes | bytearray | memoryview] | bytes | bytearray | memoryview,
    *,
    errors: Literal["raise", "skip"] = "raise",
) -> PointBatch:
    """Decode many point packets at once (a list of datagrams, or one concatenated buffer).

    Packets of equal size are decoded together with one structured numpy view; points keep
    the input's packet order. With errors="raise" the first bad packet raises its
    ProtocolError; with errors="skip" bad packets are left out and listed in ``errors``.
    """
    if isinstance(packets, bytes | bytearray | memoryview):
        packets = split_data_packets(packets)
    n_packets = len(packets)
    sizes = np.fromiter((len(p) for p in packets), dtype=np.int64, count=n_packets)
    found: list[tuple[int, ProtocolError]] = []
    parts: list[tuple[np.ndarray, np.ndarray, int]] = []  # (source index [P], records, type)

    for size in np.unique(sizes):
        idx = np.flatnonzero(sizes == size)
        size = int(size)
        if size < DATA_HEADER_SIZE or size > MAX_DATA_PACKET_SIZE:
            for i in idx:
                try:
                    parse_data_header(packets[i])
                except ProtocolError as e:
                    found.append((int(i), e))
            continue
        buf = b"".join(packets[i] for i in idx) if len(idx) > 1 else bytes(packets[idx[0]])
        raw = np.frombuffer(buf, dtype=_raw_packet_dtype(size))
        header_errors = _check_headers(raw["hdr"], size)
        ok = np.array([e is None for e in header_errors], dtype=bool)
        found.extend((int(idx[i]), e) for i, e in enumerate(header_errors) if e is not None)
        for data_type in POINT_SIZES:
            sel = ok & (raw["hdr"]["data_type"] == data_type)
            if sel.any():
                recs = np.frombuffer(buf, dtype=_packet_dtype(size, data_type))
                parts.append((idx[sel], recs[sel] if not sel.all() else recs, data_type))

    if found and errors == "raise":
        found.sort(key=lambda x: x[0])
        raise found[0][1]
    return _assemble(parts, tuple(sorted(found, key=lambda x: x[0])))


def _assemble(
    parts: list[tuple[np.ndarray, np.ndarray, int]], found: tuple[tuple[int, ProtocolError], ...]
) -> PointBatch:
    xyz_l, refl_l, tag_l, line_l, t_l, pkt_l, hdr_l, src_l = ([] for _ in range(8))
    for source_index, recs, data_type in parts:
        hdr = recs["hdr"]  # [P]
        pts = recs["pts"]  # [P, n]
        p, n = pts.shape
        xyz, keep = xyz_from_records(pts, data_type)  # [P, n, 3], [P, n]
        i = np.arange(n, dtype=np.int64)
        dot_num = np.maximum(hdr["dot_num"].astype(np.int64), 1)
        interval_ns = hdr["time_interval"].astype(np.int64) * 100 // dot_num  # [P]
        t_ns = hdr["timestamp"].astype(np.int64)[:, None] + i[None, :] * interval_ns[:, None]
        keep_flat = keep.reshape(-1)
        xyz_l.append(xyz.reshape(-1, 3)[keep_flat])
        refl_l.append(pts["reflectivity"].reshape(-1)[keep_flat])
        tag_l.append(pts["tag"].reshape(-1)[keep_flat])
        line_l.append(np.broadcast_to((i % LINES).astype(np.uint8), (p, n)).reshape(-1)[keep_flat])
        t_l.append(t_ns.reshape(-1)[keep_flat])
        pkt_l.append(np.repeat(source_index, n)[keep_flat])  # input positions, for now
        hdr_l.append(np.ascontiguousarray(hdr))
        src_l.append(source_index)
    if not parts:
        return PointBatch(
            xyz_m=np.zeros((0, 3), np.float32),
            reflectivity=np.zeros(0, np.uint8),
            tag=np.zeros(0, np.uint8),
            line=np.zeros(0, np.uint8),
            t_ns=np.zeros(0, np.int64),
            packet=np.zeros(0, np.int64),
            headers=np.zeros(0, DATA_HEADER),
            source_index=np.zeros(0, np.int64),
            errors=found,
        )
    source_index = np.concatenate(src_l)
    headers = np.concatenate(hdr_l)
    packet_src = np.concatenate(pkt_l)
    arrays = [np.concatenate(a) for a in (xyz_l, refl_l, tag_l, line_l, t_l)]
    if len(parts) > 1:  # restore the input's packet order
        hdr_order = np.argsort(source_index, kind="stable")
        source_index, headers = source_index[hdr_order], headers[hdr_order]
        pt_order = np.argsort(packet_src, kind="stable")
        packet_src = packet_src[pt_order]
        arrays = [a[pt_order] for a in arrays]
    packet_row = np.searchsorted(source_index, packet_src)  # input position -> header row
    xyz, refl, tag, line, t_ns = arrays
    return PointBatch(xyz, refl, tag, line, t_ns, packet_row, headers, source_index, found)
