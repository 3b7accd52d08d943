"""core/cameras.py: rotation helpers, projection convention, trajectories, windows, confidence."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gs_enhancer_addon.core.cameras import Camera, look_at, project_points, rigid_world_to_cam
from gs_enhancer_addon.core.geometry import matrix_from_quat, quat_from_matrix, rotation_angle, slerp
from gs_enhancer_addon.core.trajectory import TrajectoryConfig, image_confidence, trajectory_from_references, trajectory_from_samples
from gs_enhancer_addon.core.errors import InputError

K = np.array([[120.0, 0.0, 40.0], [0.0, 110.0, 30.0], [0.0, 0.0, 1.0]])


def cam(eye, target=(0, 0, 0), name="c", K_=K, size=(80, 60)) -> Camera:
    return Camera(K_.copy(), look_at(eye, target), size[0], size[1], name)


def circle_refs(n=4, radius=4.0, arc=math.pi) -> list[Camera]:
    angles = np.linspace(0, arc, n)
    return [cam((radius * math.cos(a), radius * math.sin(a), 1.0), name=f"ref{i}") for i, a in enumerate(angles)]


def yaw(deg: float) -> np.ndarray:
    a = math.radians(deg)
    return np.array([[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1.0]])


# ---------------------------------------------------------------------------------------------- helpers


def test_quaternion_round_trip_random_rotations():
    rng = np.random.default_rng(1)
    for _ in range(200):
        q = rng.normal(size=4)
        q /= np.linalg.norm(q)
        R = matrix_from_quat(q)
        assert np.allclose(R @ R.T, np.eye(3), atol=1e-12)
        q2 = quat_from_matrix(R)
        assert np.allclose(q2, q * np.sign(q[0]), atol=1e-10)


def test_slerp_takes_the_shortest_arc_at_constant_speed():
    qa, qb = quat_from_matrix(yaw(0)), quat_from_matrix(yaw(200))  # short way: -160 degrees
    for sign in (1, -1):  # q and -q are one rotation: same result
        mids = [matrix_from_quat(slerp(qa, sign * qb, u)) for u in (0.25, 0.5, 0.75)]
        assert [round(math.degrees(rotation_angle(np.eye(3), R)), 6) for R in mids] == [40, 80, 120]
        assert np.allclose(mids[1], yaw(-80), atol=1e-12)


def test_projection_uses_the_pixel_centre_convention():
    w2c = look_at((0, -5, 0), (0, 0, 0))
    camera = Camera(K, w2c, 80, 60, "c")
    uv, depth = project_points(camera, np.array([[0, 0, 0], [1, 0, 0], [0, 0, 1]]))
    assert np.allclose(uv[0], [40, 30]) and np.isclose(depth[0], 5)  # principal point = (cx, cy)
    assert np.allclose(uv[1], [40 + 120 / 5, 30])  # world +x is image right
    assert np.allclose(uv[2], [40, 30 - 110 / 5])  # world +z (up) is image up (rows grow downwards)


# ---------------------------------------------------------------------------------------------- trajectories


def test_counts_windows_and_default_window_of_25_frames():
    refs = circle_refs(4)
    traj = trajectory_from_references(refs)
    assert len(traj.cameras) == 3 * 24 + 1 and traj.reference_indices == [0, 24, 48, 72]
    assert [len(w.indices) for w in traj.windows] == [25, 25, 25]
    for w, (a, b) in zip(traj.windows, [(0, 24), (24, 48), (48, 72)]):
        assert (w.indices[0], w.indices[-1]) == (a, b)
        assert list(w.indices) == list(range(a, b + 1))
    for i, r in zip(traj.reference_indices, refs):
        c = traj.cameras[i]
        assert c.name == r.name and np.array_equal(c.world_to_cam, r.world_to_cam) and c.metadata["reference"]
    assert not any(traj.cameras[i].metadata["reference"] for i in range(1, 24))


def test_closed_loop_wraps_back_to_the_first_reference():
    traj = trajectory_from_references(circle_refs(4, arc=1.5 * math.pi), TrajectoryConfig(views_per_segment=3, closed_loop=True))
    assert len(traj.cameras) == 4 * 4 and traj.reference_indices == [0, 4, 8, 12]
    assert traj.windows[-1].indices == (12, 13, 14, 15, 0)


def hermite_catmull_rom(p0, p1, p2, p3, t, alpha=0.5):
    """Independent reference: the cubic Hermite form of a Catmull-Rom segment with knot exponent alpha."""
    t0 = 0.0
    t1 = t0 + np.linalg.norm(p1 - p0) ** alpha
    t2 = t1 + np.linalg.norm(p2 - p1) ** alpha
    t3 = t2 + np.linalg.norm(p3 - p2) ** alpha
    m1 = (t2 - t1) * ((p1 - p0) / (t1 - t0) - (p2 - p0) / (t2 - t0) + (p2 - p1) / (t2 - t1))
    m2 = (t2 - t1) * ((p2 - p1) / (t2 - t1) - (p3 - p1) / (t3 - t1) + (p3 - p2) / (t3 - t2))
    t = np.asarray(t)[:, None]
    h00, h10, h01, h11 = 2 * t**3 - 3 * t**2 + 1, t**3 - 2 * t**2 + t, -2 * t**3 + 3 * t**2, t**3 - t**2
    return h00 * p1 + h10 * m1 + h01 * p2 + h11 * m2


def test_positions_lie_on_the_centripetal_catmull_rom_curve_at_even_spacing():
    # Uneven reference spacing: every sample lies on the centripetal Catmull-Rom curve (checked
    # against its Hermite form), samples are evenly spaced inside each segment, and the path's
    # tangent is continuous at the references. End segments use mirrored phantom points.
    angles = [0.0, 0.4, 1.5, 1.9, 3.0]
    pts = [np.array([4 * math.cos(a), 4 * math.sin(a), 1.0]) for a in angles]
    refs = [cam(p, name=f"r{i}") for i, p in enumerate(pts)]
    traj = trajectory_from_references(refs, TrajectoryConfig(views_per_segment=15))
    centers = np.stack([c.center for c in traj.cameras])
    ctrl = [2 * pts[0] - pts[1], *pts, 2 * pts[-1] - pts[-2]]
    dense_t = np.linspace(0, 1, 20001)
    for s, w in enumerate(traj.windows):
        curve = hermite_catmull_rom(*ctrl[s : s + 4], dense_t)
        seg = centers[list(w.indices)]
        gap = np.linalg.norm(seg[:, None, :] - curve[None], axis=2).min(axis=1)
        assert gap.max() < 1e-3
        steps = np.linalg.norm(np.diff(seg, axis=0), axis=1)
        assert steps.std() / steps.mean() < 0.02
    for r in traj.reference_indices[1:-1]:
        before, after = centers[r] - centers[r - 1], centers[r + 1] - centers[r]
        cos = before @ after / np.linalg.norm(before) / np.linalg.norm(after)
        assert cos > 0.99


def test_evenly_spaced_references_on_a_circle_stay_near_it():
    traj = trajectory_from_references(circle_refs(9, arc=2 * math.pi * 8 / 9), TrajectoryConfig(views_per_segment=5, closed_loop=True))
    radius = np.linalg.norm(np.stack([c.center for c in traj.cameras])[:, :2], axis=1)
    assert np.abs(radius - 4).max() < 0.02 * 4


def test_collinear_references_give_evenly_spaced_points_on_the_line():
    refs = [Camera(K, rigid_world_to_cam(np.eye(3), (x, 0, 0)), 80, 60, f"r{x}") for x in (0.0, 1.0, 3.0)]
    traj = trajectory_from_references(refs, TrajectoryConfig(views_per_segment=3))
    xs = [c.center for c in traj.cameras]
    assert np.allclose(np.stack(xs), [[x, 0, 0] for x in (0, 0.25, 0.5, 0.75, 1, 1.5, 2, 2.5, 3)], atol=1e-6)


def test_rotations_slerp_and_intrinsics_interpolate():
    K2 = K.copy()
    K2[0, 0], K2[1, 2] = 200.0, 20.0
    a = Camera(K, rigid_world_to_cam(yaw(0), (0, 0, 0)), 80, 60, "a")
    b = Camera(K2, rigid_world_to_cam(yaw(200), (1, 0, 0)), 80, 60, "b")
    traj = trajectory_from_references([a, b], TrajectoryConfig(views_per_segment=3))
    angles = [math.degrees(rotation_angle(np.eye(3), c.cam_to_world[:3, :3])) for c in traj.cameras]
    assert np.allclose(angles, [0, 40, 80, 120, 160], atol=1e-9)  # the short way round
    mid = traj.cameras[2]
    assert np.allclose(mid.K, (K + K2) / 2) and mid.metadata["fraction"] == 0.5


def test_turning_on_the_spot_is_allowed():
    a = Camera(K, rigid_world_to_cam(yaw(0), (1, 2, 3)), 80, 60, "a")
    b = Camera(K, rigid_world_to_cam(yaw(90), (1, 2, 3)), 80, 60, "b")
    traj = trajectory_from_references([a, b], TrajectoryConfig(views_per_segment=5))
    assert np.allclose(np.stack([c.center for c in traj.cameras]), [1, 2, 3])
    conf = traj.confidence
    assert conf[3] == conf[1:-1].max() == 1.0 and conf[1] < conf[2] < conf[3]  # the middle is farthest


@pytest.mark.parametrize(
    "refs, config, words",
    [
        ([cam((4, 0, 1))], TrajectoryConfig(), "at least two"),
        (circle_refs(2), TrajectoryConfig(closed_loop=True), "at least three"),
        ([cam((4, 0, 1), name="a"), cam((0, 4, 1), name="b", size=(64, 60))], TrajectoryConfig(), "one image size"),
        ([cam((4, 0, 1), name="a"), cam((4, 0, 1), name="b"), cam((0, 4, 1))], TrajectoryConfig(), "'a' and 'b' have the same pose"),
        (circle_refs(3), TrajectoryConfig(views_per_segment=0), "at least 1"),
    ],
)
def test_degenerate_input_gets_a_clear_error(refs, config, words):
    with pytest.raises(InputError, match=words):
        trajectory_from_references(refs, config)


# ---------------------------------------------------------------------------------------------- confidence


def test_confidence_follows_the_documented_distance():
    refs = circle_refs(3, arc=math.pi / 2)
    config = TrajectoryConfig(views_per_segment=7, rotation_weight=0.5)
    traj = trajectory_from_references(refs, config)
    conf = traj.confidence
    assert conf.shape == (len(traj.cameras),) and conf.min() >= 0 and conf.max() == 1
    assert np.all(conf[traj.reference_indices] == 1.0)
    # Recompute by hand for every view: nearest reference by |dc| / L + w * angle / pi.
    ref_cams = [traj.cameras[i] for i in traj.reference_indices]
    L = np.median([np.linalg.norm(a.center - b.center) for a, b in zip(ref_cams, ref_cams[1:])])
    d = np.array(
        [
            min(
                np.linalg.norm(c.center - r.center) / L
                + 0.5 * rotation_angle(c.cam_to_world[:3, :3], r.cam_to_world[:3, :3]) / math.pi
                for r in ref_cams
            )
            for c in traj.cameras
        ]
    )
    novel = ~traj.is_reference
    assert np.allclose(conf[novel], d[novel] / d[novel].max())
    first = conf[1:8]  # rises towards the middle of the segment, then falls
    assert np.all(np.diff(first[:4]) > 0) and np.all(np.diff(first[3:]) < 0)


def test_rotation_weight_changes_confidence_of_turning_views():
    # Same positions, one segment turns 90 degrees: with a rotation term it counts as farther.
    a = Camera(K, rigid_world_to_cam(yaw(0), (0, 0, 0)), 80, 60, "a")
    b = Camera(K, rigid_world_to_cam(yaw(0), (1, 0, 0)), 80, 60, "b")
    c = Camera(K, rigid_world_to_cam(yaw(90), (2, 0, 0)), 80, 60, "c")
    traj = [c_ for c_ in trajectory_from_references([a, b, c], TrajectoryConfig(views_per_segment=3)).cameras]
    refs = [0, 4, 8]
    flat = image_confidence(traj, refs, rotation_weight=0.0)
    turned = image_confidence(traj, refs, rotation_weight=2.0)
    assert np.isclose(flat[2], flat[6])  # translation only: both segment middles alike
    assert turned[6] > turned[2]  # the turning segment's middle is farther from its references


# ---------------------------------------------------------------------------------------------- animated path


def test_samples_become_windows_with_a_short_last_one():
    samples = [cam((4 * math.cos(a), 4 * math.sin(a), 1.0), name=f"f{i}") for i, a in enumerate(np.linspace(0, 2, 10))]
    traj = trajectory_from_samples(samples, TrajectoryConfig(views_per_segment=3))
    assert traj.reference_indices == [0, 4, 8, 9]
    assert [w.indices for w in traj.windows] == [(0, 1, 2, 3, 4), (4, 5, 6, 7, 8), (8, 9)]
    assert [c.name for c in traj.cameras] == [s.name for s in samples]
    assert np.all(traj.confidence[[0, 4, 8, 9]] == 1.0) and np.isclose(traj.confidence[2], 1.0)
    assert traj.confidence[1] < traj.confidence[2]
    with pytest.raises(InputError, match="at least two sampled frames"):
        trajectory_from_samples(samples[:1])


def test_samples_with_given_references_cut_windows_between_them():
    samples = [cam((4 * math.cos(a), 4 * math.sin(a), 1.0), name=f"f{i}") for i, a in enumerate(np.linspace(0, 2, 10))]
    traj = trajectory_from_samples(samples, references=[0, 3, 9])  # e.g. the photos a low-view splat saw
    assert traj.reference_indices == [0, 3, 9] and traj.is_reference.nonzero()[0].tolist() == [0, 3, 9]
    assert [w.indices for w in traj.windows] == [(0, 1, 2, 3), (3, 4, 5, 6, 7, 8, 9)]
    assert np.all(traj.confidence[[0, 3, 9]] == 1.0) and np.all(traj.confidence[[1, 2, 4, 5]] < 1.0)
    for bad in ([1, 9], [0, 5], [0, 5, 5, 9]):
        with pytest.raises(InputError, match="increase from the first sample"):
            trajectory_from_samples(samples, references=bad)
