"""Camera paths between reference cameras (3DGS-Enhancer, Liu et al. 2024, "3DGS-Enhancer: Enhancing Unbounded 3D Gaussian
Splatting with View-consistent 2D Diffusion Priors", Sec. 3/4): between each consecutive pair of
ordered reference cameras, T novel views are sampled; each window {reference a, T views,
reference b} is one unit for the video-diffusion enhancer; each view carries an image-level
confidence that grows with its distance to the nearest reference view.
- Positions: centripetal Catmull-Rom spline through the reference centres (Yuksel, Schaefer and
  Keyser 2011, "Parameterization and applications of Catmull-Rom curves"), alpha = 0.5, sampled
  at equal arc length inside each segment.
- Rotations: shortest-arc quaternion slerp (Shoemake 1985) with the arc-length fraction.
- Intrinsics: K interpolated linearly with the same fraction (all references must share one
  image size).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from .cameras import Camera, rigid_world_to_cam
from .errors import InputError
from .geometry import matrix_from_quat, quat_from_matrix, rotation_angle, slerp

# Two reference centres closer than this (relative to the path's extent) count as coincident.
_COINCIDENT_REL = 1e-9


@dataclass
class TrajectoryConfig:
    """How novel views are sampled between reference cameras (3DGS-Enhancer defaults)."""

    views_per_segment: int = 23  # T novel views per reference pair: one diffusion window = T + 2 = 25 frames
    closed_loop: bool = False  # also sample from the last reference back to the first (needs >= 3)
    catmull_rom_alpha: float = 0.5  # 0.5 = centripetal (no cusps or self-loops); 0 uniform, 1 chordal
    rotation_weight: float = 1.0  # confidence distance: weight of (rotation angle / pi) against
    # (translation / median reference spacing); 1.0 makes a half turn count as one reference spacing


@dataclass(frozen=True)
class Window:
    """One unit for the video-diffusion enhancer: reference a, T novel views, reference b."""

    indices: tuple[int, ...]  # into Trajectory.cameras; first and last are references


@dataclass
class Trajectory:
    cameras: list[Camera]  # every view in path order, each reference once
    reference_indices: list[int]  # positions of the reference views in `cameras`
    confidence: np.ndarray  # [N] float64 in [0, 1]: image-level confidence, references 1
    windows: list[Window]

    @property
    def is_reference(self) -> np.ndarray:  # [N] bool
        mask = np.zeros(len(self.cameras), dtype=bool)
        mask[self.reference_indices] = True
        return mask


def trajectory_from_references(references: Sequence[Camera], config: TrajectoryConfig | None = None) -> Trajectory:
    """Sample T views between each consecutive pair of ordered reference cameras.

    Rules for degenerate input: fewer than two references, a closed loop with fewer than three,
    different image sizes, or two consecutive references with the same pose raise `InputError`.
    Two consecutive references at the same position but looking different ways are allowed:
    the camera then turns on the spot (position constant, rotation slerped).
    """
    config = config or TrajectoryConfig()
    refs = list(references)
    eps = _check_references(refs, config)  # the coincidence distance, computed once for the path
    n_seg = len(refs) if config.closed_loop else len(refs) - 1
    cameras: list[Camera] = []
    ref_idx: list[int] = []
    windows: list[Window] = []
    for s in range(n_seg):
        a = len(cameras)
        ref_idx.append(a)
        cameras.append(_as_reference(refs[s], s))
        cameras.extend(_segment_views(refs, s, config, eps))
        b = 0 if (config.closed_loop and s == n_seg - 1) else len(cameras)
        windows.append(Window(tuple(range(a, len(cameras))) + (b,)))
    if not config.closed_loop:
        ref_idx.append(len(cameras))
        cameras.append(_as_reference(refs[-1], len(refs) - 1))
    confidence = image_confidence(cameras, ref_idx, config.rotation_weight)
    return Trajectory(cameras, ref_idx, confidence, windows)


def trajectory_from_samples(samples: Sequence[Camera], config: TrajectoryConfig | None = None,
                            references: Optional[Sequence[int]] = None) -> Trajectory:
    """A trajectory from a densely sampled path (an animated camera, one Camera per sampled frame).

    Every (T+1)-th sample is a reference (samples 0, T+1, 2(T+1), ...), and the last sample is
    always one, so the last window can hold fewer than T novel views. `references`: the reference
    samples' indices instead (increasing, first and last included; e.g. the photos a low-view splat
    was fitted to). `closed_loop` is ignored.
    """
    config = config or TrajectoryConfig()
    samples = list(samples)
    if len(samples) < 2:
        raise InputError("The animated camera path needs at least two sampled frames; widen the frame range or lower the stride.")
    _check_same_size(samples)
    if references is None:
        ref_idx = list(range(0, len(samples), config.views_per_segment + 1))
        if ref_idx[-1] != len(samples) - 1:
            ref_idx.append(len(samples) - 1)
    else:
        ref_idx = [int(i) for i in references]
        if ref_idx[0] != 0 or ref_idx[-1] != len(samples) - 1 or any(b <= a for a, b in zip(ref_idx, ref_idx[1:])):
            raise InputError(f"Reference samples must increase from the first sample (0) to the last "
                             f"({len(samples) - 1}); got {ref_idx}.")
    ref_number = {i: k for k, i in enumerate(ref_idx)}
    cameras = [
        _as_reference(c, ref_number[i]) if i in ref_number else _with_metadata(c, reference=False)
        for i, c in enumerate(samples)
    ]
    windows = [Window(tuple(range(a, b + 1))) for a, b in zip(ref_idx[:-1], ref_idx[1:])]
    confidence = image_confidence(cameras, ref_idx, config.rotation_weight)
    return Trajectory(cameras, ref_idx, confidence, windows)


def image_confidence(cameras: Sequence[Camera], reference_indices: Sequence[int], rotation_weight: float = 1.0) -> np.ndarray:
    """Image-level confidence [N] in [0, 1] per view (3DGS-Enhancer): farther from every reference = higher.

    Distance of a view v to a reference r:
        d(v, r) = |c_v - c_r| / L  +  rotation_weight * angle(R_v, R_r) / pi
    with c the camera centres, angle the geodesic angle between the camera rotations, and L the
    median distance between consecutive references (the path's own length scale, so the value
    does not depend on scene units; L = 1 if all references share one position). A view's
    confidence is its distance to the nearest reference divided by the largest such distance on
    the trajectory; references themselves get 1 (they are the training targets).
    """
    c2w = np.stack([c.cam_to_world for c in cameras])  # [N, 4, 4]
    centers, rots = c2w[:, :3, 3], c2w[:, :3, :3]
    ref_centers = centers[list(reference_indices)]
    spacing = np.linalg.norm(np.diff(ref_centers, axis=0), axis=1)
    spacing = spacing[spacing > 0]
    scale = float(np.median(spacing)) if spacing.size else 1.0
    dist = np.full(len(cameras), np.inf)
    for r in reference_indices:
        trans = np.linalg.norm(centers - centers[r], axis=1) / scale
        cos = (np.einsum("ij,nij->n", rots[r], rots) - 1.0) / 2.0  # trace(R_r^T R_v) = 1 + 2 cos(angle)
        rot = np.arccos(np.clip(cos, -1.0, 1.0)) / math.pi
        dist = np.minimum(dist, trans + rotation_weight * rot)
    ref_mask = np.zeros(len(cameras), dtype=bool)
    ref_mask[list(reference_indices)] = True
    top = dist[~ref_mask].max() if (~ref_mask).any() else 0.0
    confidence = dist / top if top > 0 else np.zeros(len(cameras))
    confidence[ref_mask] = 1.0
    return np.clip(confidence, 0.0, 1.0)


# ----------------------------------------------------------------------------------------------
# Trajectory internals


def _check_same_size(cameras: Sequence[Camera]) -> None:
    first = cameras[0]
    for cam in cameras[1:]:
        if (cam.width, cam.height) != (first.width, first.height):
            raise InputError(
                f"All cameras of a path must share one image size: '{first.name}' is "
                f"{first.width}x{first.height} but '{cam.name}' is {cam.width}x{cam.height}."
            )


def _check_references(refs: list[Camera], config: TrajectoryConfig) -> float:
    """Raise InputError for a path that cannot be sampled; return the coincidence distance."""
    if len(refs) < 2:
        raise InputError(f"A camera path needs at least two reference cameras; found {len(refs)}.")
    if config.closed_loop and len(refs) < 3:
        raise InputError("A closed-loop camera path needs at least three reference cameras.")
    if config.views_per_segment < 1:
        raise InputError("Views per segment must be at least 1.")
    _check_same_size(refs)
    n_seg = len(refs) if config.closed_loop else len(refs) - 1
    eps = _coincidence_eps(refs)
    for s in range(n_seg):
        a, b = refs[s], refs[(s + 1) % len(refs)]
        same_place = np.linalg.norm(a.center - b.center) <= eps
        same_view = rotation_angle(a.cam_to_world[:3, :3], b.cam_to_world[:3, :3]) < 1e-9
        if same_place and same_view:
            raise InputError(
                f"Reference cameras '{a.name}' and '{b.name}' have the same pose; "
                "remove one of them or move it."
            )
    return eps


def _coincidence_eps(refs: Sequence[Camera]) -> float:
    centers = np.stack([c.center for c in refs])
    extent = float(np.ptp(centers, axis=0).max()) if len(refs) > 1 else 0.0
    return _COINCIDENT_REL * max(extent, 1.0)


def _as_reference(cam: Camera, ref_number: int) -> Camera:
    return _with_metadata(cam, reference=True, reference_number=ref_number)


def _with_metadata(cam: Camera, **extra) -> Camera:
    return Camera(cam.K.copy(), cam.world_to_cam.copy(), cam.width, cam.height, cam.name, cam.image_path, {**cam.metadata, **extra})


def _segment_views(refs: list[Camera], s: int, config: TrajectoryConfig, eps: float) -> list[Camera]:
    """The T novel views strictly between refs[s] and refs[s+1] (wrapping on a closed loop)."""
    n = len(refs)
    a, b = refs[s], refs[(s + 1) % n]
    T = config.views_per_segment
    fractions = np.arange(1, T + 1) / (T + 1)
    positions = _segment_positions(refs, s, fractions, config, eps)
    qa, qb = quat_from_matrix(a.cam_to_world[:3, :3]), quat_from_matrix(b.cam_to_world[:3, :3])
    views = []
    for k, (u, pos) in enumerate(zip(fractions, positions), start=1):
        R = matrix_from_quat(slerp(qa, qb, float(u)))
        K = (1 - u) * a.K + u * b.K
        meta = {"reference": False, "segment": s, "fraction": float(u)}
        views.append(Camera(K, rigid_world_to_cam(R, pos), a.width, a.height, f"{a.name}>{b.name}#{k:02d}", None, meta))
    return views


def _segment_positions(refs: list[Camera], s: int, fractions: np.ndarray, config: TrajectoryConfig,
                       eps: float) -> np.ndarray:
    """Positions [T, 3] on the centripetal Catmull-Rom segment s, at equal arc-length fractions;
    points closer than `eps` count as coincident."""
    n = len(refs)
    closed = config.closed_loop
    p1, p2 = refs[s].center, refs[(s + 1) % n].center
    if np.linalg.norm(p2 - p1) <= eps:  # turning on the spot
        return np.repeat(p1[None], len(fractions), axis=0)
    p0 = refs[(s - 1) % n].center if (closed or s > 0) else None
    p3 = refs[(s + 2) % n].center if (closed or s + 2 < n) else None
    if p0 is None or np.linalg.norm(p1 - p0) <= eps:  # phantom point: mirror of the next one
        p0 = 2 * p1 - p2
    if p3 is None or np.linalg.norm(p3 - p2) <= eps:
        p3 = 2 * p2 - p1
    ctrl = np.stack([p0, p1, p2, p3])
    dense_t = np.linspace(0.0, 1.0, 32 * (len(fractions) + 1) + 1)
    dense = _catmull_rom(ctrl, dense_t, config.catmull_rom_alpha)
    arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(dense, axis=0), axis=1))])
    t = np.interp(fractions * arc[-1], arc, dense_t)
    return _catmull_rom(ctrl, t, config.catmull_rom_alpha)


def _catmull_rom(
    ctrl: np.ndarray,  # [4, 3] control points p0..p3; the curve runs from p1 (t=0) to p2 (t=1)
    t: np.ndarray,  # [M] in [0, 1]
    alpha: float,
) -> np.ndarray:  # [M, 3]
    """Barry-Goldman pyramidal evaluation of a Catmull-Rom segment with knot exponent alpha."""
    gaps = np.linalg.norm(np.diff(ctrl, axis=0), axis=1) ** alpha
    k0, k1, k2, k3 = np.concatenate([[0.0], np.cumsum(gaps)])
    tt = (k1 + t * (k2 - k1))[:, None]
    p0, p1, p2, p3 = ctrl

    def lerp(pa, pb, ka, kb):
        return (kb - tt) / (kb - ka) * pa + (tt - ka) / (kb - ka) * pb

    a1, a2, a3 = lerp(p0, p1, k0, k1), lerp(p1, p2, k1, k2), lerp(p2, p3, k2, k3)
    b1, b2 = lerp(a1, a2, k0, k2), lerp(a2, a3, k1, k3)
    return lerp(b1, b2, k1, k2)
