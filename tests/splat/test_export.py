"""The splat products: the 3DGS PLY's exact layout and a lossless round trip; the .splat."""

import numpy as np
import pytest
import torch

from splat.export import (
    SPLAT_BYTES,
    ply_bytes,
    read_ply,
    read_splat,
    splat_colours,
    write_ply,
    write_splat,
)
from splat.gaussians import init_from_map

# graphdeco-inria/gaussian-splatting's save_ply at SH degree 3, as SuperSplat reads it
INRIA_HEADER = (
    ["ply", "format binary_little_endian 1.0", "element vertex 100"]
    + [f"property float {n}" for n in ("x", "y", "z", "nx", "ny", "nz")]
    + [f"property float f_dc_{i}" for i in range(3)]
    + [f"property float f_rest_{i}" for i in range(45)]
    + ["property float opacity"]
    + [f"property float scale_{i}" for i in range(3)]
    + [f"property float rot_{i}" for i in range(4)]
    + ["end_header"]
)


@pytest.fixture
def params():
    rng = np.random.default_rng(0)
    p = init_from_map(rng.uniform(-5, 5, (100, 3)), rng.integers(0, 256, (100, 3)), sh_degree=3)
    g = torch.Generator().manual_seed(0)
    for k in ("scales", "quats", "opacities", "shN"):  # trained-looking values everywhere
        p[k] = p[k] + 0.3 * torch.randn(p[k].shape, generator=g)
    return p


def test_ply_header_is_the_standard_3dgs_layout(params):
    data = ply_bytes(params)
    header = data[: data.index(b"end_header\n") + len(b"end_header\n")].decode().splitlines()
    assert header == INRIA_HEADER
    assert len(data) - len("\n".join(INRIA_HEADER)) - 1 == 100 * 62 * 4  # 62 floats a Gaussian


def test_ply_round_trip_is_lossless(params, tmp_path):
    write_ply(tmp_path / "splat.ply", params)
    back = read_ply(tmp_path / "splat.ply")
    for k, v in params.items():
        assert torch.equal(back[k], v.float()), k


def test_f_rest_is_channel_major(params):
    """f_rest_0..14 are the 15 red coefficients (INRIA's transpose), not interleaved RGB."""
    data = ply_bytes(params)
    body = np.frombuffer(data[data.index(b"end_header\n") + 11 :], "<f4").reshape(100, 62)
    rest = body[:, 9:54]
    np.testing.assert_array_equal(rest[:, :15], params["shN"][:, :, 0].numpy())
    np.testing.assert_array_equal(rest[:, 15:30], params["shN"][:, :, 1].numpy())


def test_splat_file_is_32_bytes_a_gaussian_with_its_colours_and_scales(params, tmp_path):
    write_splat(tmp_path / "scene.splat", params)
    assert (tmp_path / "scene.splat").stat().st_size == SPLAT_BYTES * 100
    s = read_splat(tmp_path / "scene.splat")
    # the file is sorted along a Morton curve: match each record to its Gaussian by position
    means = params["means"].numpy()
    order = np.array([np.argmin(np.linalg.norm(means - p, axis=1)) for p in s["position"]])
    assert sorted(order) == list(range(100))
    np.testing.assert_allclose(s["position"], means[order], atol=1e-6)
    np.testing.assert_allclose(s["scale"], np.exp(params["scales"].numpy())[order], rtol=1e-6)
    assert np.abs(s["rgba"].astype(int) - splat_colours(params)[order].astype(int)).max() <= 1
    q = params["quats"].numpy()[order]
    q = q / np.linalg.norm(q, axis=1, keepdims=True)
    assert np.abs(s["quat"] - q).max() < 1.5 / 128


def test_a_truncated_splat_or_foreign_ply_is_refused(tmp_path):
    (tmp_path / "bad.splat").write_bytes(b"\0" * 33)
    with pytest.raises(ValueError, match="32-byte"):
        read_splat(tmp_path / "bad.splat")
    (tmp_path / "map.ply").write_bytes(
        b"ply\nformat binary_little_endian 1.0\nelement vertex 0\nproperty float x\nend_header\n"
    )
    with pytest.raises(ValueError, match="3DGS"):
        read_ply(tmp_path / "map.ply")
