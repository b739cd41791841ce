"""Xbus framing and the frame finder's resynchronisation."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drivers.xsens.mtdata2 import encode_mtdata2
from drivers.xsens.xbus import (
    MAX_FRAME_LEN,
    ChecksumError,
    Mid,
    TruncatedError,
    XbusError,
    XbusFrame,
    XbusFrameFinder,
    decode_frame,
    encode_frame,
)

# --- frames --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mid", "data", "hex_frame"),
    [
        # The LLCP's own examples: checksum = -(BID + MID + LEN + DATA) mod 256.
        (Mid.GOTO_CONFIG, b"", "faff3000d1"),
        (Mid.GOTO_MEASUREMENT, b"", "faff1000f1"),
        (Mid.REQ_DID, b"", "faff000001"),
        (Mid.WAKEUP_ACK, b"", "faff3f00c2"),
        # SetOutputConfiguration, Acceleration at 100 Hz: FF+C0+04+40+20+00+64 = 0x287 -> 0x79
        (Mid.SET_OUTPUT_CONFIGURATION, bytes.fromhex("40200064"), "faffc00440200064" + "79"),
    ],
)
def test_known_answer_frames(mid: int, data: bytes, hex_frame: str) -> None:
    assert encode_frame(mid, data).hex() == hex_frame
    assert decode_frame(bytes.fromhex(hex_frame)) == XbusFrame(mid, data)


@pytest.mark.parametrize("n", [0, 1, 100, 254, 255, 256, 300, 2048, 8185])
def test_round_trip_and_checksum(n: int) -> None:
    data = bytes((i * 7 + 3) % 256 for i in range(n))
    raw = encode_frame(Mid.MTDATA2, data)
    assert sum(raw[1:]) % 256 == 0
    assert len(raw) == n + (5 if n <= 254 else 7)
    assert decode_frame(raw) == XbusFrame(Mid.MTDATA2, data)
    assert XbusFrameFinder().feed(raw) == [XbusFrame(Mid.MTDATA2, data)]


def test_extended_length_header() -> None:
    raw = encode_frame(0x36, bytes(300))
    assert raw[:6] == bytes((0xFA, 0xFF, 0x36, 0xFF, 0x01, 0x2C))  # LEN 0xFF, then 300 u16 BE
    assert encode_frame(0x36, bytes(254))[3] == 254  # 254 still fits the one-byte length


def test_decode_frame_errors() -> None:
    raw = encode_frame(Mid.DEVICE_ID, b"\x03\x78\x00\x01")
    with pytest.raises(ChecksumError):
        decode_frame(raw[:-1] + bytes(((raw[-1] + 1) % 256,)))
    with pytest.raises(TruncatedError):
        decode_frame(raw[:-1])
    with pytest.raises(TruncatedError):
        decode_frame(raw[:3])
    with pytest.raises(XbusError):
        decode_frame(b"\x00" + raw[1:])
    with pytest.raises(XbusError):
        decode_frame(raw + b"\x00")
    assert issubclass(ChecksumError, XbusError) and issubclass(TruncatedError, XbusError)
    with pytest.raises(ValueError):
        encode_frame(0x36, bytes(70_000))


def test_finder_counts_and_resyncs() -> None:
    good = encode_frame(Mid.GOTO_CONFIG_ACK)
    corrupted = bytearray(encode_frame(Mid.MTDATA2, bytes(range(10))))
    corrupted[8] ^= 0x55
    finder = XbusFrameFinder()
    stream = b"junk" + bytes(corrupted) + good + b"\xfa"
    assert finder.feed(stream) == [XbusFrame(Mid.GOTO_CONFIG_ACK)]
    s = finder.stats()
    assert s.checksum_errors == 1
    assert s.garbage_bytes == 4 + len(corrupted)
    assert s.pending_bytes == 1  # a trailing 0xFA may start the next frame
    assert finder.feed(good[1:]) == [XbusFrame(Mid.GOTO_CONFIG_ACK)]


def test_finder_rejects_oversized_extended_length_at_once() -> None:
    finder = XbusFrameFinder(max_data_len=2048)
    good = encode_frame(Mid.GOTO_MEASUREMENT_ACK)
    # FA FF 36 FF 20 00 announces 8192 bytes: dropped without waiting for them.
    assert finder.feed(bytes.fromhex("faff36ff2000") + good) == [XbusFrame(0x11)]
    assert finder.length_errors == 1
    assert finder.pending_bytes == 0


def test_false_preamble_swallowing_a_frame_is_undone() -> None:
    """A truncated frame in the garbage announces a length that covers the next real frame;
    its checksum fails once the bytes are in, and the real frame is found."""
    real = encode_frame(Mid.MTDATA2, encode_mtdata2(packet_counter=7, sample_time_fine=1))
    truncated = encode_frame(Mid.MTDATA2, bytes(40))[:12]
    finder = XbusFrameFinder()
    out = finder.feed(truncated + real)
    out += finder.feed(bytes(64))  # more line traffic completes the false frame
    assert out == [decode_frame(real)]
    assert finder.checksum_errors == 1


frames_st = st.builds(
    XbusFrame,
    st.integers(0, 255),
    st.binary(max_size=300),
)


def _feed_in_chunks(finder: XbusFrameFinder, stream: bytes, cuts: list[int]) -> list[XbusFrame]:
    out: list[XbusFrame] = []
    points = sorted({c % (len(stream) + 1) for c in cuts} | {0, len(stream)})
    for a, b in zip(points, points[1:], strict=False):
        out += finder.feed(stream[a:b])
    return out


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=3000), st.lists(st.integers(0, 4000), max_size=20))
def test_random_bytes_never_raise_and_account_for_every_byte(data: bytes, cuts: list[int]) -> None:
    finder = XbusFrameFinder()
    out = _feed_in_chunks(finder, data, cuts)
    s = finder.stats()
    consumed = sum(len(f.encode()) for f in out)
    assert s.garbage_bytes + consumed + s.pending_bytes == len(data)
    assert s.pending_bytes <= MAX_FRAME_LEN


clean_garbage = st.binary(max_size=50).map(lambda b: b.replace(b"\xfa", b"\x00"))


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(clean_garbage, frames_st), max_size=12),
    st.lists(st.integers(0, 5000), max_size=15),
)
def test_every_frame_after_garbage_is_recovered(
    items: list[tuple[bytes, XbusFrame]], cuts: list[int]
) -> None:
    stream = b"".join(g + f.encode() for g, f in items)
    finder = XbusFrameFinder()
    out = _feed_in_chunks(finder, stream, cuts)
    assert out == [f for _, f in items]
    assert finder.garbage_bytes == sum(len(g) for g, _ in items)


def _nasty_garbage() -> st.SearchStrategy[bytes]:
    """Garbage with preambles in it: FA, FA FF, partial and corrupted frames, huge lengths."""
    part = st.one_of(
        st.binary(max_size=30),
        st.just(b"\xfa"),
        st.just(b"\xfa\xff"),
        st.just(bytes.fromhex("faff36ff2000")),  # extended length past the maximum
        st.tuples(frames_st, st.integers(1, 40)).map(lambda t: t[0].encode()[: t[1]]),
        frames_st.map(lambda f: f.encode()[:-1] + bytes(((f.encode()[-1] + 1) % 256,))),
    )
    return st.lists(part, max_size=4).map(b"".join)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.tuples(_nasty_garbage(), frames_st), max_size=10),
    st.lists(st.integers(0, 5000), max_size=15),
)
def test_frames_survive_garbage_with_preambles(
    items: list[tuple[bytes, XbusFrame]], cuts: list[int]
) -> None:
    real = [f for _, f in items]
    stream = b"".join(g + f.encode() for g, f in items)
    finder = XbusFrameFinder()
    out = _feed_in_chunks(finder, stream, cuts)
    out += finder.feed(bytes(MAX_FRAME_LEN))  # later traffic resolves pending false headers
    # A false frame can only swallow real ones if its own checksum happens to pass (1 in
    # 256); when no such frame came out, every real frame did, in order.
    if all(f in real for f in out):
        it = iter(out)
        assert all(any(f == g for g in it) for f in real)
    assert finder.pending_bytes <= MAX_FRAME_LEN
