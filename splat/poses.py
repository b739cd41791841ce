"""Camera pose refinement: the SLAM's camera poses are good to a few millimetres and a few
hundredths of a degree, which is a pixel or two at 1280 px. Each training keyframe gets a small
learned correction of its pose (as gsplat's `pose_opt`), and a held-out view is aligned to the
trained scene before it is scored (test-time pose alignment, as pose-refining radiance fields
are evaluated), so the score measures the scene rather than the SLAM's last millimetres.
"""

from __future__ import annotations

import torch
from torch import Tensor


def se3_exp(xi: Tensor) -> Tensor:  # [6] rotation vector (rad), translation (m) -> [4, 4]
    """The rigid motion exp(xi^), differentiable (torch's matrix exponential)."""
    wx, wy, wz, vx, vy, vz = xi.unbind()
    z = torch.zeros_like(wx)
    twist = torch.stack(
        [
            torch.stack([z, -wz, wy, vx]),
            torch.stack([wz, z, -wx, vy]),
            torch.stack([-wy, wx, z, vz]),
            torch.stack([z, z, z, z]),
        ]
    )
    return torch.linalg.matrix_exp(twist)


class ViewRows(torch.nn.Module):
    """A row of learned numbers per training keyframe, zero at the start (the pose corrections
    here, the exposure's colour transforms). Sparse rows with SparseAdam, so a keyframe's row
    moves only when it is trained on (a dense Adam would keep moving every row on its stale
    momentum)."""

    def __init__(self, n_views: int, width: int, lr: float, device: torch.device) -> None:
        super().__init__()
        self.rows = torch.nn.Embedding(n_views, width, sparse=True, device=device)
        torch.nn.init.zeros_(self.rows.weight)
        self.optimizer = torch.optim.SparseAdam(self.rows.parameters(), lr=lr)

    def row(self, i: int, device: torch.device) -> Tensor:  # -> [width]
        return self.rows(torch.tensor([i], device=device))[0]

    def step(self) -> None:
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)


class PoseCorrections(ViewRows):
    """One correction per keyframe, applied in the camera frame: T_camera_world <- exp(xi^) @
    T_camera_world."""

    def __init__(self, n_views: int, lr: float, device: torch.device) -> None:
        super().__init__(n_views, 6, lr, device)

    def forward(self, i: int, viewmat: Tensor) -> Tensor:  # [4, 4] -> [4, 4]
        return se3_exp(self.row(i, viewmat.device)) @ viewmat

    def magnitudes(self) -> dict:
        """The median and largest correction, in degrees and millimetres."""
        w = self.rows.weight.detach()
        deg = torch.rad2deg(w[:, :3].norm(dim=1))
        mm = 1000 * w[:, 3:].norm(dim=1)
        return {
            "rotation_deg_median": round(float(deg.median()), 4),
            "rotation_deg_max": round(float(deg.max()), 4),
            "translation_mm_median": round(float(mm.median()), 2),
            "translation_mm_max": round(float(mm.max()), 2),
        }


def align_view(
    render_rgb,  # (viewmat [4, 4]) -> [H, W, 3], differentiable in the viewmat
    viewmat: Tensor,  # [4, 4] T_camera_world
    image: Tensor,  # [H, W, 3]
    steps: int = 100,
    lr: float = 1e-3,  # falling linearly to a tenth: 1 mm and 0.06 deg steps at first
) -> Tensor:
    """The view's pose corrected to best explain its image in the (frozen) scene -> [4, 4]."""
    xi = torch.zeros(6, device=viewmat.device, requires_grad=True)
    opt = torch.optim.Adam([xi], lr=lr)
    for k in range(steps):
        opt.param_groups[0]["lr"] = lr * (1.0 - 0.9 * k / steps)
        loss = (render_rgb(se3_exp(xi) @ viewmat) - image).abs().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return (se3_exp(xi) @ viewmat).detach()
