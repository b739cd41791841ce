"""SO(3) and SE(3) on 4x4 matrices, with tangent vectors ordered [rotation, translation].

Perturbations are on the left: T <- exp(xi) @ T, the convention of the registration and filter.
"""

from __future__ import annotations

import numpy as np

_EPS = 1e-9


def hat(w: np.ndarray) -> np.ndarray:
    """[3] -> [3, 3] skew-symmetric matrix, hat(a) @ b == cross(a, b)."""
    return np.array([[0.0, -w[2], w[1]], [w[2], 0.0, -w[0]], [-w[1], w[0], 0.0]])


def so3_exp(w: np.ndarray) -> np.ndarray:
    """Rotation vector [3] -> rotation matrix [3, 3] (Rodrigues)."""
    theta = float(np.linalg.norm(w))
    K = hat(w)
    if theta < 1e-6:  # second-order Taylor expansion
        return np.eye(3) + K + 0.5 * K @ K
    return np.eye(3) + np.sin(theta) / theta * K + (1 - np.cos(theta)) / theta**2 * K @ K


def so3_log(R: np.ndarray) -> np.ndarray:
    """Rotation matrix [3, 3] -> rotation vector [3], angle in [0, pi]."""
    cos = np.clip((np.trace(R) - 1.0) / 2.0, -1.0, 1.0)
    theta = float(np.arccos(cos))
    v = np.array([R[2, 1] - R[1, 2], R[0, 2] - R[2, 0], R[1, 0] - R[0, 1]])
    if theta < 1e-6:
        return 0.5 * v
    if np.pi - theta < 1e-4:  # near pi the antisymmetric part vanishes: use the symmetric part
        B = ((R + R.T) / 2.0 - cos * np.eye(3)) / (1.0 - cos)  # = axis axis^T
        k = int(np.argmax(np.diag(B)))
        axis = B[k] / np.sqrt(max(B[k, k], _EPS))
        if axis @ v < 0:
            axis = -axis
        return theta * axis / np.linalg.norm(axis)
    return theta / (2.0 * np.sin(theta)) * v


def _left_jacobian(w: np.ndarray) -> np.ndarray:
    theta = float(np.linalg.norm(w))
    K = hat(w)
    if theta < 1e-6:
        return np.eye(3) + 0.5 * K + K @ K / 6.0
    return (
        np.eye(3) + (1 - np.cos(theta)) / theta**2 * K + (theta - np.sin(theta)) / theta**3 * K @ K
    )


def se3_exp(xi: np.ndarray) -> np.ndarray:
    """Tangent [6] = [w, v] -> pose [4, 4]."""
    T = np.eye(4)
    T[:3, :3] = so3_exp(xi[:3])
    T[:3, 3] = _left_jacobian(xi[:3]) @ xi[3:]
    return T


def se3_log(T: np.ndarray) -> np.ndarray:
    """Pose [4, 4] -> tangent [6] = [w, v]."""
    w = so3_log(T[:3, :3])
    return np.concatenate([w, np.linalg.solve(_left_jacobian(w), T[:3, 3])])


def se3_inv(T: np.ndarray) -> np.ndarray:
    """Inverse of a rigid transform [4, 4]."""
    Ti = np.eye(4)
    Ti[:3, :3] = T[:3, :3].T
    Ti[:3, 3] = -T[:3, :3].T @ T[:3, 3]
    return Ti


def transform(T: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply T [4, 4] to points [N, 3]."""
    return points @ T[:3, :3].T + T[:3, 3]


def rot_z(angle_rad: float) -> np.ndarray:
    """A pose [4, 4] that turns by angle_rad about z."""
    c, s = np.cos(angle_rad), np.sin(angle_rad)
    T = np.eye(4)
    T[:2, :2] = [[c, -s], [s, c]]
    return T


def orthonormalize(R: np.ndarray) -> np.ndarray:
    """The nearest rotation [3, 3] to R, to stop round-off drift in long products."""
    U, _, Vt = np.linalg.svd(R)
    D = np.diag([1.0, 1.0, np.linalg.det(U @ Vt)])
    return U @ D @ Vt


def pose_change(T_from: np.ndarray, T_to: np.ndarray) -> tuple[float, float]:
    """How far T_to [4, 4] lies from T_from: the rotation angle (radians) and the translation
    (metres) of inv(T_from) @ T_to."""
    change = np.linalg.inv(T_from) @ T_to
    return float(np.linalg.norm(so3_log(change[:3, :3]))), float(np.linalg.norm(change[:3, 3]))
