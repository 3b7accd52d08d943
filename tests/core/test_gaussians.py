"""GaussianScene: validation messages, helpers, and the similarity transform (incl. SH rotation)."""

from __future__ import annotations

import numpy as np
import pytest

from gs_enhancer_addon.core.errors import InputError
from gs_enhancer_addon.core.gaussians import FIELDS, SH_C0, GaussianScene
from gs_enhancer_addon.core.geometry import rotate_sh, sh_basis


def random_scene(n: int = 50, degree: int = 3, seed: int = 0) -> GaussianScene:
    rng = np.random.default_rng(seed)
    k = (degree + 1) ** 2
    return GaussianScene(
        means=rng.standard_normal((n, 3)).astype(np.float32),
        quats=rng.standard_normal((n, 4)).astype(np.float32),
        log_scales=rng.uniform(-4, 0, (n, 3)).astype(np.float32),
        opacity_logits=rng.standard_normal(n).astype(np.float32),
        sh=rng.standard_normal((n, k, 3)).astype(np.float32),
    )


def rotation_matrix(axis, angle: float) -> np.ndarray:
    axis = np.asarray(axis, dtype=np.float64) / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * k @ k


def covariances(scene: GaussianScene) -> np.ndarray:  # [N, 3, 3]
    q = scene.quats.astype(np.float64)
    w, x, y, z = (q / np.linalg.norm(q, axis=1, keepdims=True)).T
    r = np.stack([
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
    ], axis=1).reshape(-1, 3, 3)
    s = np.exp(2 * scene.log_scales.astype(np.float64))
    return r @ (s[:, :, None] * r.transpose(0, 2, 1))


def test_valid_scene_passes_and_sh_degree_is_inferred():
    for degree in range(4):
        scene = random_scene(degree=degree)
        scene.validate()
        assert scene.sh_degree == degree and len(scene) == 50


@pytest.mark.parametrize("field, value, words", [
    ("means", np.zeros((50, 3), np.float64), "means must be float32"),
    ("quats", np.zeros((50, 3), np.float32), "quats has shape [50, 3]"),
    ("opacity_logits", np.zeros((49,), np.float32), "opacity_logits has shape [49]"),
    ("sh", np.zeros((50, 5, 3), np.float32), "K in 1, 4, 9, 16"),
    ("log_scales", [[0.0, 0.0, 0.0]] * 50, "must be a numpy array"),
])
def test_validate_names_the_wrong_field(field, value, words):
    scene = random_scene()
    setattr(scene, field, value)
    with pytest.raises(InputError, match=words.replace("[", r"\[").replace("]", r"\]")):
        scene.validate()


def test_validate_counts_nonfinite_splats():
    scene = random_scene()
    scene.sh[3, 5, 1] = np.nan
    scene.means[7, 0] = np.inf
    scene.log_scales[7, 2] = -np.inf
    with pytest.raises(InputError, match="2 of 50 splats"):
        scene.validate()
    scene.validate(allow_nonfinite=True)
    assert np.flatnonzero(scene.nonfinite_mask()).tolist() == [3, 7]


def test_subset_mask_and_indices_copy_every_field():
    scene = random_scene()
    mask = np.arange(50) % 3 == 0
    part = scene.subset(mask)
    assert len(part) == 17
    for f in FIELDS:
        assert np.array_equal(getattr(part, f), getattr(scene, f)[mask])
        assert getattr(part, f).flags.c_contiguous
    picked = scene.subset([4, 2])
    assert np.array_equal(picked.sh, scene.sh[[4, 2]])
    with pytest.raises(InputError, match="Mask has shape"):
        scene.subset(np.ones(3, dtype=bool))


def test_concat_pads_lower_sh_degrees_with_zeros():
    a, b = random_scene(10, degree=3), random_scene(5, degree=0, seed=1)
    both = GaussianScene.concat([a, b])
    both.validate()
    assert len(both) == 15 and both.sh_degree == 3
    assert np.array_equal(both.sh[10:, 0], b.sh[:, 0]) and not both.sh[10:, 1:].any()
    assert np.array_equal(both.means[:10], a.means)
    with pytest.raises(InputError):
        GaussianScene.concat([])


def test_with_sh_degree_truncates_and_pads():
    scene = random_scene(degree=2)
    assert np.array_equal(scene.with_sh_degree(1).sh, scene.sh[:, :4])
    padded = scene.with_sh_degree(3)
    assert np.array_equal(padded.sh[:, :9], scene.sh) and not padded.sh[:, 9:].any()


def test_colors_and_opacities():
    scene = random_scene()
    assert np.allclose(scene.colors(), np.clip(0.5 + SH_C0 * scene.sh[:, 0], 0, 1))
    assert np.allclose(scene.opacities(), 1 / (1 + np.exp(-scene.opacity_logits)), atol=1e-6)
    scene.opacity_logits[:] = 1e4  # no overflow warnings, saturates cleanly
    assert np.all(scene.opacities() == 1.0)


def test_transformed_moves_means_and_covariances_by_a_similarity():
    scene = random_scene()
    r = rotation_matrix([1, 2, 3], 0.7)
    m = np.eye(4)
    m[:3, :3] = 2.5 * r
    m[:3, 3] = [1, -2, 3]
    moved = scene.transformed(m)
    moved.validate()
    assert np.allclose(moved.means, scene.means @ (2.5 * r).T + [1, -2, 3], atol=1e-5)
    expected = 2.5 ** 2 * r @ covariances(scene) @ r.T
    assert np.allclose(covariances(moved), expected, rtol=1e-4, atol=1e-6)
    assert np.array_equal(moved.opacity_logits, scene.opacity_logits)


def test_sh_rotation_keeps_view_dependent_color_attached_to_the_splat():
    scene = random_scene(degree=3)
    r = rotation_matrix([0.3, -1, 0.2], 1.1)
    rotated = rotate_sh(scene.sh, r)
    dirs = np.random.default_rng(5).standard_normal((20, 3))
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    # color seen from direction d before == color seen from R d after
    before = np.einsum("mk,nkc->nmc", sh_basis(dirs), scene.sh)
    after = np.einsum("mk,nkc->nmc", sh_basis(dirs @ r.T), rotated)
    assert np.allclose(before, after, atol=1e-4)
    assert np.array_equal(rotated[:, 0], scene.sh[:, 0])
    assert np.allclose(rotate_sh(scene.sh, np.eye(3)), scene.sh, atol=1e-5)


@pytest.mark.parametrize("linear, words", [
    (np.diag([1.0, 2.0, 1.0]), "non-uniform scale"),
    (np.diag([1.0, 1.0, -1.0]), "mirrors"),
    (np.array([[1.0, 0.5, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]), "non-uniform scale|shear"),
])
def test_transformed_refuses_what_gaussians_cannot_represent(linear, words):
    m = np.eye(4)
    m[:3, :3] = linear
    with pytest.raises(InputError, match=words):
        random_scene().transformed(m)


def test_quats_from_z_to_rotates_z_onto_each_direction():
    from gs_enhancer_addon.core.geometry import matrix_from_quat, quats_from_z_to

    rng = np.random.default_rng(0)
    dirs = rng.normal(size=(20, 3))
    dirs = np.concatenate([dirs, [[0, 0, 1.0], [0, 0, -1.0]]])
    dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
    for q, d in zip(quats_from_z_to(dirs), dirs):
        assert np.allclose(matrix_from_quat(q) @ [0, 0, 1.0], d, atol=1e-9)
