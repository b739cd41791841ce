"""The PyTorch rasterizer: gsplat's rules on known scenes, and equal to gsplat's CUDA one."""

import numpy as np
import pytest
import torch

from splat.gaussians import init_from_map, rgb_to_sh0
from splat.render import render

W, H = 64, 48
K = torch.tensor([[50.0, 0, 32.5], [0, 50.0, 24.5], [0, 0, 1]])  # optical axis on a pixel centre


def gaussians(xyz, rgb, scale_m, opacity):
    p = init_from_map(np.array(xyz, float), np.array(rgb), sh_degree=0)
    n = len(xyz)
    p["scales"] = torch.full((n, 3), float(np.log(scale_m)))
    p["opacities"] = torch.full((n,), float(np.log(opacity / (1 - opacity))))
    return p


def test_one_gaussian_is_its_colour_and_depth_at_its_centre_and_fades_as_gsplat_says():
    p = gaussians([[0, 0, 4.0], [10, 10, 10], [-10, 10, 10], [10, -10, 10]], [[255, 0, 0]] * 4,
                  0.1, 0.8)  # fmt: skip
    out = render(p, torch.eye(4), K, W, H, 0, backend="torch")
    assert out.alpha[24, 32] == pytest.approx(0.8, abs=1e-5)
    assert out.rgb[24, 32].tolist() == pytest.approx([0.8, 0.0, 0.0], abs=1e-3)  # no background
    assert out.depth[24, 32] == pytest.approx(4.0, abs=1e-4)
    # 2D variance: (f s / z)^2 plus gsplat's 0.3 px^2 blur
    var = (50 * 0.1 / 4.0) ** 2 + 0.3
    assert out.alpha[24, 34] == pytest.approx(0.8 * np.exp(-0.5 * 4 / var), rel=1e-3)
    assert out.alpha[0, 0] == 0  # beyond 1/255


def test_the_nearer_gaussian_hides_the_farther_one():
    p = gaussians([[0, 0, 3.0], [0, 0, 6.0], [10, 10, 10], [-10, -10, 10]],
                  [[255, 0, 0], [0, 0, 255], [0, 0, 0], [0, 0, 0]], 0.2, 0.99)  # fmt: skip
    out = render(p, torch.eye(4), K, W, H, 0, backend="torch")
    r, _, b = out.rgb[24, 32].tolist()
    assert r > 0.98 and b < 0.01
    # the same with the two swapped in memory: depth order, not index order
    q = {k: v[[1, 0, 2, 3]] for k, v in p.items()}
    assert torch.allclose(render(q, torch.eye(4), K, W, H, 0, backend="torch").rgb, out.rgb)


def test_gradients_reach_every_parameter_and_the_screen_space_means():
    rng = np.random.default_rng(1)
    p = init_from_map(
        rng.uniform([-1, -1, 3], [1, 1, 5], (300, 3)), rng.integers(0, 255, (300, 3)), 1
    )
    p["scales"] = p["scales"] + torch.tensor(rng.normal(0, 0.5, (300, 3)), dtype=torch.float32)
    for v in p.values():  # anisotropic: a sphere's rotation has no gradient
        v.requires_grad_(True)
    out = render(p, torch.eye(4), K, W, H, 1, backend="torch")
    (out.rgb.mean() + out.depth.mean()).backward()
    for k, v in p.items():
        assert v.grad is not None and torch.isfinite(v.grad).all() and v.grad.abs().sum() > 0, k
    assert out.info["means2d"].grad is not None  # what gsplat's DefaultStrategy reads


def test_sh0_round_trips_the_colour():
    rgb = np.array([[0.2, 0.5, 0.9]])
    from splat.gaussians import sh0_to_rgb

    np.testing.assert_allclose(sh0_to_rgb(rgb_to_sh0(rgb)), rgb)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="gsplat's rasterizer needs CUDA")
def test_the_torch_backend_matches_gsplats_cuda_rasterizer():
    rng = np.random.default_rng(2)
    p = init_from_map(
        rng.uniform([-2, -2, 2], [2, 2, 8], (3000, 3)), rng.integers(0, 255, (3000, 3)), 3
    )
    p["shN"] = 0.1 * torch.randn(p["shN"].shape, generator=torch.Generator().manual_seed(0))
    view = torch.eye(4)
    cpu = render(p, view, K, W, H, 3, backend="torch")
    gpu = render({k: v.cuda() for k, v in p.items()}, view.cuda(), K.cuda(), W, H, 3, "gsplat")
    assert (cpu.rgb - gpu.rgb.cpu()).abs().max() < 2e-3
    assert (cpu.alpha - gpu.alpha.cpu()).abs().max() < 2e-3


@pytest.mark.parametrize("scale", [1.0, 0.5])
def test_a_point_on_the_calibrated_principal_point_lands_where_opencv_says(scale):
    """Calibrations put pixel centres at integers (OpenCV, ROS), gsplat at +0.5; pinhole_K moves
    the principal point between them. Half a pixel off cost the GPU runs ~1 dB at 1280x720."""
    from types import SimpleNamespace

    from splat.camera import pinhole_K

    cal = SimpleNamespace(fx=50.0, fy=50.0, cx=31.0, cy=23.0)  # the axis on pixel (31, 23)
    K_px = torch.tensor(pinhole_K(cal, scale), dtype=torch.float32)
    xyz = [[0, 0, 4.0], [10, 10, 10], [-10, 10, 10], [10, -10, 10]]  # the last three: off image
    p = gaussians(xyz, [[255] * 3] * 4, 0.2, 0.8)
    a = render(p, torch.eye(4), K_px, int(64 * scale), int(48 * scale), 0, "torch").alpha.numpy()
    h, w = a.shape
    u = (a.sum(0) * np.arange(w)).sum() / a.sum()  # the blob's centre, pixel centres at 0
    v = (a.sum(1) * np.arange(h)).sum() / a.sum()
    # OpenCV's pixel (31, 23) in the image resized by scale: its centre at (x + 0.5) * scale - 0.5
    assert u == pytest.approx((31 + 0.5) * scale - 0.5, abs=0.02)
    assert v == pytest.approx((23 + 0.5) * scale - 0.5, abs=0.02)
