"""MTData2 messages out of any byte stream with `read(n)`: a serial port, a file, BytesIO.

`XsensReader` feeds the bytes to an `XbusFrameFinder` and decodes MTData2 messages, counting what
it could not use; it never sees a clock. The live driver (`drivers.xsens.driver`) reads the port
through it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import BinaryIO, Protocol

from drivers.xsens.mtdata2 import MtData2, decode_mtdata2
from drivers.xsens.xbus import FinderStats, Mid, XbusError, XbusFrame, XbusFrameFinder

log = logging.getLogger(__name__)


class _Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes | None: ...


class XsensReader:
    """MTData2 messages out of any byte stream (serial port, file, BytesIO).

    `read_frames()` does one read and returns the frames it completed, or None when the read
    returned nothing (end of a file; a timeout on a serial port). Iterating yields decoded
    MtData2 until the stream ends; messages that do not decode are counted and skipped.
    """

    def __init__(
        self,
        stream: _Readable | BinaryIO,
        chunk_size: int = 4096,
        finder: XbusFrameFinder | None = None,
    ) -> None:
        self.stream = stream
        self.chunk_size = chunk_size
        self.finder = finder if finder is not None else XbusFrameFinder()
        self.bytes_read = 0
        self.decode_errors = 0

    def read_frames(self) -> list[XbusFrame] | None:
        waiting = getattr(self.stream, "in_waiting", None)
        if waiting is None:
            data = self.stream.read(self.chunk_size)
        else:
            # A serial port: block (up to its timeout) for one byte, then take what is there.
            data = self.stream.read(max(1, min(int(waiting), self.chunk_size)))
            more = int(getattr(self.stream, "in_waiting", 0)) if data else 0
            if more:
                data += self.stream.read(min(more, self.chunk_size))
        if not data:
            return None
        self.bytes_read += len(data)
        return self.finder.feed(data)

    def frames(self) -> Iterator[XbusFrame]:
        """Every valid frame until the stream ends."""
        while (frames := self.read_frames()) is not None:
            yield from frames

    def decode(self, frame: XbusFrame) -> MtData2 | None:
        """The MtData2 in an MTData2 frame; None (and counted) when it does not decode."""
        try:
            return decode_mtdata2(frame.data)
        except XbusError as e:
            self.decode_errors += 1
            log.debug("MTData2 not decoded: %s", e)
            return None

    def __iter__(self) -> Iterator[MtData2]:
        for frame in self.frames():
            if frame.mid == Mid.MTDATA2 and (m := self.decode(frame)) is not None:
                yield m

    def stats(self) -> FinderStats:
        return self.finder.stats()
