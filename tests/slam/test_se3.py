"""SO(3)/SE(3) math as properties (hypothesis)."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from slam.se3 import (
    hat,
    orthonormalize,
    rot_z,
    se3_exp,
    se3_inv,
    se3_log,
    so3_exp,
    so3_log,
    transform,
)

finite = st.floats(-10.0, 10.0, allow_nan=False, allow_infinity=False)
vec3 = arrays(np.float64, 3, elements=finite)
# rotation vectors with angle < pi (log's range), including tiny ones
rotvec = arrays(np.float64, 3, elements=st.floats(-1.8, 1.8, allow_nan=False)).filter(
    lambda w: np.linalg.norm(w) < np.pi - 1e-3
)
small_rotvec = arrays(np.float64, 3, elements=st.floats(-1e-7, 1e-7, allow_nan=False))
twist = st.tuples(rotvec, vec3).map(np.concatenate)


@given(vec3, vec3)
def test_hat_is_cross_product(a, b):
    np.testing.assert_allclose(hat(a) @ b, np.cross(a, b), atol=1e-9)


@given(st.one_of(rotvec, small_rotvec))
def test_so3_exp_is_a_rotation_and_log_inverts_it(w):
    R = so3_exp(w)
    np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-10)
    assert np.linalg.det(R) > 0
    np.testing.assert_allclose(so3_log(R), w, atol=1e-7)


@given(
    st.floats(np.pi - 1e-3, np.pi, allow_nan=False),
    arrays(np.float64, 3, elements=st.floats(-1, 1)),
)
def test_so3_log_near_pi(angle, axis):
    if np.linalg.norm(axis) < 1e-3:
        return
    axis = axis / np.linalg.norm(axis)
    R = so3_exp(angle * axis)
    np.testing.assert_allclose(so3_exp(so3_log(R)), R, atol=1e-6)


@given(twist)
def test_se3_log_inverts_exp(xi):
    np.testing.assert_allclose(se3_log(se3_exp(xi)), xi, atol=1e-7)


@given(twist, twist)
@settings(max_examples=50)
def test_se3_inverse_and_composition(a, b):
    A, B = se3_exp(a), se3_exp(b)
    np.testing.assert_allclose(se3_inv(A) @ A, np.eye(4), atol=1e-9)
    p = np.array([[1.0, -2.0, 0.5], [3.0, 0.0, -1.0]])
    np.testing.assert_allclose(transform(A @ B, p), transform(A, transform(B, p)), atol=1e-9)


@given(twist)
def test_left_perturbation_first_order(xi):
    """exp(eps * xi) p ~= p + eps * (w x p + v): the Jacobian the registration uses."""
    p = np.array([2.0, -1.0, 0.5])
    eps = 1e-6
    moved = transform(se3_exp(eps * xi), p[None])[0]
    np.testing.assert_allclose((moved - p) / eps, np.cross(xi[:3], p) + xi[3:], atol=1e-4)


def test_rot_z_and_orthonormalize():
    np.testing.assert_allclose(
        transform(rot_z(np.pi / 2), np.array([[1.0, 0, 0]])), [[0, 1.0, 0]], atol=1e-12
    )
    R = so3_exp(np.array([0.3, -0.2, 0.1])) + 1e-4
    Rn = orthonormalize(R)
    np.testing.assert_allclose(Rn @ Rn.T, np.eye(3), atol=1e-12)
    assert np.abs(Rn - R).max() < 1e-3
