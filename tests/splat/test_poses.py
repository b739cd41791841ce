"""Pose refinement: the exponential map, sparse per-keyframe corrections, and test-time
alignment that finds a held-out view's true pose in a frozen scene."""

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from splat.gaussians import init_from_map
from splat.losses import psnr
from splat.poses import PoseCorrections, align_view, se3_exp
from splat.render import render

W, H = 64, 48
K = torch.tensor([[50.0, 0, 32.0], [0, 50.0, 24.0], [0, 0, 1]])


def test_se3_exp_is_the_rigid_motion_of_its_twist():
    assert torch.allclose(se3_exp(torch.zeros(6)), torch.eye(4))
    w = np.array([0.1, -0.2, 0.3])
    T = se3_exp(torch.tensor([*w, 0, 0, 0], dtype=torch.float64))
    assert np.allclose(T[:3, :3].numpy(), Rotation.from_rotvec(w).as_matrix(), atol=1e-12)
    T = se3_exp(torch.tensor([0, 0, 0, 0.1, 0.2, -0.3], dtype=torch.float64))
    assert np.allclose(T[:3, 3].numpy(), [0.1, 0.2, -0.3]) and np.allclose(T[:3, :3], np.eye(3))


def test_only_the_keyframe_trained_on_moves():
    poses = PoseCorrections(5, lr=1e-3, device=torch.device("cpu"))
    poses(2, torch.eye(4))[0, 3].backward()  # any loss that depends on keyframe 2's pose
    poses.step()
    moved = poses.rows.weight.detach().abs().sum(dim=1) > 0
    assert moved.tolist() == [False, False, True, False, False]


def _scene():
    rng = np.random.default_rng(4)
    xyz = rng.uniform([-1.5, -1.2, 2.5], [1.5, 1.2, 4.0], (1500, 3))
    p = init_from_map(xyz, rng.integers(0, 255, (1500, 3)), sh_degree=0)
    p["opacities"] = torch.full((1500,), 2.0)
    return p


def test_alignment_finds_a_held_out_views_pose_in_a_frozen_scene():
    p = _scene()
    true_view = torch.eye(4)

    def rgb(viewmat):
        return render(p, viewmat, K, W, H, 0, backend="torch").rgb

    with torch.no_grad():
        image = rgb(true_view)
    error = torch.tensor([0.004, -0.003, 0.002, 0.01, -0.008, 0.005])  # 0.3 deg, 14 mm
    slam_view = se3_exp(error) @ true_view
    aligned = align_view(rgb, slam_view, image, steps=100, lr=1e-3)
    with torch.no_grad():
        before, after = psnr(rgb(slam_view), image), psnr(rgb(aligned), image)
    assert after > before + 5.0, (before, after)
    residual = aligned @ torch.linalg.inv(true_view)
    assert torch.linalg.norm(residual[:3, 3]) < 0.5 * torch.linalg.norm(error[3:]), residual


def _trainer(tmp_seed: int = 0):
    from splat.config import DensifyStrategy, TrainConfig
    from splat.keyframes import Keyframe
    from splat.train import Trainer

    rng = np.random.default_rng(tmp_seed)
    views = []
    for i in range(5):
        viewmat = torch.eye(4)
        viewmat[0, 3] = 0.05 * i
        image = torch.tensor(rng.uniform(0, 1, (12, 16, 3)), dtype=torch.float32)
        Kv = torch.tensor([[12.0, 0, 8.0], [0, 12.0, 6.0], [0, 0, 1]])
        views.append(Keyframe(image, viewmat, Kv, torch.zeros(12, 16), float(i)))
    xyz = rng.uniform([-1, -1, 2], [1, 1, 3], (300, 3))
    pts = np.column_stack([xyz, rng.integers(0, 255, (300, 3))])
    cfg = TrainConfig(
        iterations=10,
        sh_degree=0,
        holdout_every=5,
        strategy=DensifyStrategy(enabled=False),
        lr_pose=1e-3,
    )
    return Trainer(views, pts, cfg, "cpu", "torch")


def test_a_checkpoint_keeps_the_pose_corrections_and_their_schedule(tmp_path):
    a = _trainer()
    for _ in range(4):
        a.train_step()
    assert a.poses.rows.weight.abs().sum() > 0
    a.save(tmp_path / "ck.pt")
    b = _trainer()
    b.load(tmp_path / "ck.pt")
    assert b.step == 4 and torch.equal(a.poses.rows.weight, b.poses.rows.weight)
    a.train_step()
    b.train_step()
    assert torch.allclose(a.poses.rows.weight, b.poses.rows.weight)  # same state, same next step
    lr = b.optimizers["means"].param_groups[0]["lr"]
    assert lr == pytest.approx(b.cfg.lr_means * b.scene_scale * 0.01 ** (4 / 10))
