"""Exposure compensation: the colour fit is exact, a keyframe's transform learns its gain, and
in training it takes up the exposure changes of an auto-exposed camera."""

from dataclasses import replace

import torch

from splat.config import TrainConfig
from splat.exposure import ExposureCorrections, colour_fit
from splat.keyframes import load_keyframes
from splat.train import Trainer


def test_colour_fit_undoes_an_affine_colour_change():
    g = torch.Generator().manual_seed(0)
    rgb = torch.rand(20, 30, 3, generator=g)
    M = torch.tensor([[0.8, 0.1, 0.0], [0.0, 1.2, 0.05], [0.02, 0.0, 0.9]])
    image = rgb @ M.T + torch.tensor([0.05, -0.02, 0.1])
    assert torch.allclose(colour_fit(rgb, image), image, atol=1e-5)


def test_a_keyframe_transform_learns_its_gain_and_leaves_the_others():
    g = torch.Generator().manual_seed(1)
    rgb = torch.rand(16, 16, 3, generator=g)
    target = 0.7 * rgb + 0.05
    corrections = ExposureCorrections(3, lr=5e-3, device=torch.device("cpu"))
    for _ in range(400):
        loss = (corrections(1, rgb) - target).abs().mean()
        loss.backward()
        corrections.step()
    assert (corrections(1, rgb) - target).abs().mean() < 0.01
    assert torch.equal(corrections(0, rgb), rgb)  # never trained: the identity
    m = corrections.magnitudes()
    assert 0.6 < m["gain_min"] < 0.8 and m["gain_max"] == 1.0


def test_training_takes_up_the_exposure_changes(processed):
    cfg = TrainConfig(
        iterations=100,
        image_scale=0.125,
        map_voxel_m=0.25,
        holdout_every=4,
        sh_degree=0,
        pose_refine=False,
        blind_zone=False,
        exposure=True,
        lr_exposure=5e-2,
    )
    keyframes, map_xyz_rgb, _ = load_keyframes(processed, cfg)
    train_ids = [i for i in range(len(keyframes)) if i % cfg.holdout_every != 0]
    dark = set(train_ids[1::2])  # every other training view, the reference (the first) bright
    keyframes = [
        replace(k, image=k.image * 0.6) if i in dark else k for i, k in enumerate(keyframes)
    ]
    trainer = Trainer(keyframes, map_xyz_rgb, cfg)
    for _ in range(cfg.iterations):
        trainer.train_step()
    gain = trainer.exposure.gains()  # per training view, in train_views order
    is_dark = torch.tensor([i in dark for i in train_ids])
    is_dark_or_ref = is_dark.clone()
    is_dark_or_ref[0] = True
    # the bright ones' gains fall below 1 too while the scene is blurry (a least-squares slope
    # between a blurred render and a sharp image is below 1); the dark ones' fall further
    assert gain[is_dark].mean() < 0.85 * gain[~is_dark_or_ref].mean(), gain
    figures = trainer.evaluate()
    assert figures["psnr_db_colour_fit"] >= figures["psnr_db"] - 0.01
    assert figures["exposure_corrections"]["gain_min"] < 0.9
