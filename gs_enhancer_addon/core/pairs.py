"""make-pairs: enhancer training windows from a capture (what 3DGS-Enhancer's dataset generator does).

For each reference count N (default 3, 6, 9, 24, as the official generator,
xiliu8006/3dgs_dataset_generator):
  1. pick N reference photos evenly along the capture order (capture order = image-name order,
     as our capture readers return it);
  2. fit a low-view splat to them with our own `refine` (core/refine.py), from the capture's
     COLMAP sparse points when present, else from a random initialisation (the official generator
     trains from random points); densification where refine can run it (CUDA);
  3. render it at every capture camera;
  4. cut one window per pair of consecutive references that has views between them:
     input  = [reference photo a, renders of the views between, reference photo b],
     target = the capture's photos of the same views, cameras = the same cameras;
  5. write the windows in the dataset format of core/enhance/data.py.

Output folder (one folder can collect several captures; `load_dataset` reads only the windows):
  <out>/<name>-n03-w00/{input,target}/*.png, cameras.json   a window (data.py format)
  <out>/<name>-n03.ply                                       the low-view splat (baseline to evaluate)
  <out>/<name>.pairs.json                                    manifest: references, windows, fit time
Resume: a reference count whose windows all exist is skipped; a saved low-view splat is reused
instead of refitted; finished windows are kept. Windows are written under a "." name and renamed
when complete, so a cancelled or failed run leaves no half-written window.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Optional, Sequence

import numpy as np

from .cameras import Camera
from .errors import InputError
from .gaussians import SH_C0, GaussianScene, sh_coefficient_count
from .image_io import load_image
from .progress import CancelFn, ProgressFn, check_cancel, report, sub_progress

if TYPE_CHECKING:  # pragma: no cover
    import torch

DEFAULT_VIEW_COUNTS = (3, 6, 9, 24)
MANIFEST_FORMAT = "gs-enhancer-pairs"
Densify = Literal["auto", "on", "off"]


@dataclass
class PairsConfig:
    view_counts: tuple[int, ...] = DEFAULT_VIEW_COUNTS  # reference photos per low-view splat
    iterations: int = 3000  # refine steps of each low-view fit (the official generator: 30k on a GPU)
    densify: Densify = "auto"  # 3DGS densification: "auto" = where refine can run it (CUDA)
    random_points: int = 5000  # Gaussians of the random initialisation (captures without sparse points)
    sh_degree: int = 1  # SH degree of the fitted splat
    device: str = "auto"  # "auto": CUDA when available, else CPU
    seed: int = 0  # random initialisation and view order
    name: Optional[str] = None  # prefix of the window names; None = the capture folder's name

    def __post_init__(self) -> None:
        if not self.view_counts or min(self.view_counts) < 2:
            raise InputError("Every reference count must be at least 2 (a window needs a reference at each end).")
        if self.iterations < 1:
            raise InputError("The low-view fit needs at least 1 iteration.")
        if self.densify not in ("auto", "on", "off"):
            raise InputError(f"densify must be auto, on or off, not '{self.densify}'.")


@dataclass
class Capture:
    name: str
    cameras: list[Camera]  # capture order, every one with its photo
    points: Optional[tuple[np.ndarray, np.ndarray]] = None  # sparse points: positions [P, 3], colours [P, 3]


@dataclass
class PairsResult:
    windows: list[Path] = field(default_factory=list)  # every window folder of this capture (new and kept)
    splats: dict[int, Path] = field(default_factory=dict)  # reference count -> low-view splat file
    fitted: list[int] = field(default_factory=list)  # reference counts fitted in this run (not resumed)
    notes: list[str] = field(default_factory=list)  # plain-words remarks (skipped counts)


# ---------------------------------------------------------------------------------------------
# Reading a capture


def read_capture(path: str | Path) -> Capture:
    """A capture folder (transforms.json, or a COLMAP model in sparse/0, sparse/ or the folder itself),
    or a camera file (transforms.json / cams.json); COLMAP sparse points are read when present."""
    from .capture import load_cameras, read_colmap_points

    path = Path(path)
    if not path.exists():
        raise InputError(f"Capture not found: {path}")
    points, name = None, (path.name if path.is_dir() else path.parent.name) or "capture"
    if path.is_file():
        cameras = load_cameras(path)
    elif (path / "transforms.json").is_file():
        cameras = load_cameras(path / "transforms.json")
    else:
        model = next((d for d in (path / "sparse" / "0", path / "sparse", path)
                      if any((d / f).is_file() for f in ("cameras.bin", "cameras.txt"))), None)
        if model is None:
            raise InputError(f"{path} holds no transforms.json and no COLMAP model (sparse/0/cameras.bin or .txt).")
        cameras, points = load_cameras(model), read_colmap_points(model)
    _check_capture(cameras, path)
    return Capture(name=name, cameras=cameras, points=points)


def _check_capture(cameras: Sequence[Camera], path: Path) -> None:
    if len(cameras) < 3:
        raise InputError(f"{path}: a capture needs at least 3 photos with cameras; found {len(cameras)}.")
    missing = [c.name for c in cameras if not c.image_path or not Path(c.image_path).is_file()]
    if missing:
        raise InputError(f"{path}: {len(missing)} of {len(cameras)} cameras have no photo on disk "
                         f"(e.g. {', '.join(missing[:3])}); make-pairs needs every photo.")
    sizes = {(c.width, c.height) for c in cameras}
    if len(sizes) > 1:
        raise InputError(f"{path}: the photos have different sizes {sorted(sizes)}; make-pairs needs one size.")


# ---------------------------------------------------------------------------------------------
# Pieces


def reference_indices(num_views: int, count: int) -> list[int]:
    """`count` indices spread evenly over 0 .. num_views - 1, first and last included."""
    return sorted({int(round(x)) for x in np.linspace(0, num_views - 1, count)})


def window_spans(references: Sequence[int]) -> list[tuple[int, int]]:
    """(a, b) for consecutive references with at least one view between them."""
    return [(a, b) for a, b in zip(references, references[1:]) if b - a >= 2]


def look_at_centre(cameras: Sequence[Camera]) -> tuple[np.ndarray, float]:  # ([3], radius)
    """The point nearest to every camera's optical axis (least squares) and the median camera distance to it."""
    centres = np.stack([c.center for c in cameras])
    axes = np.stack([c.cam_to_world[:3, 2] for c in cameras])  # +z: the viewing direction (OpenCV)
    projectors = np.eye(3)[None] - axes[:, :, None] * axes[:, None, :]  # [V, 3, 3]
    A, b = projectors.sum(0), np.einsum("vij,vj->i", projectors, centres)
    if np.linalg.cond(A) < 1e6:
        centre = np.linalg.solve(A, b)
    else:  # parallel axes (a forward-facing capture): a point ahead of the cameras
        spread = float(np.linalg.norm(centres - centres.mean(0), axis=1).max()) or 1.0
        centre = centres.mean(0) + axes.mean(0) * 2.0 * spread
    radius = float(np.median(np.linalg.norm(centres - centre, axis=1)))
    return centre, max(radius, 1e-3)


def initial_scene(capture: Capture, config: PairsConfig) -> GaussianScene:
    """Sparse points (colours from COLMAP), else `random_points` uniform in a cube around what the
    cameras look at (half side: the median camera distance), grey; isotropic Gaussians sized by the
    mean distance to their 3 nearest neighbours (3DGS), opacity 0.1."""
    rng = np.random.default_rng(config.seed)
    if capture.points is not None and len(capture.points[0]) >= 4:
        means, colours = capture.points
    else:
        centre, half = look_at_centre(capture.cameras)
        means = centre + rng.uniform(-half, half, size=(config.random_points, 3))
        colours = np.clip(0.5 + rng.normal(0.0, 0.05, size=means.shape), 0.0, 1.0)
    n = len(means)
    sh = np.zeros((n, sh_coefficient_count(config.sh_degree), 3))
    sh[:, 0] = (colours - 0.5) / SH_C0
    f32 = lambda a: np.ascontiguousarray(a, dtype=np.float32)  # noqa: E731
    scales = np.log(np.maximum(_mean_neighbour_distance(means, 3), 1e-7))
    return GaussianScene(means=f32(means), quats=f32(np.tile([1.0, 0.0, 0.0, 0.0], (n, 1))),
                         log_scales=f32(np.repeat(scales[:, None], 3, axis=1)),
                         opacity_logits=f32(np.full(n, math.log(0.1 / 0.9))), sh=f32(sh))


def _mean_neighbour_distance(points: np.ndarray, k: int) -> np.ndarray:  # [N]
    import torch

    pts = torch.as_tensor(points, dtype=torch.float32)
    k = min(k, len(pts) - 1)
    out = []
    for start in range(0, len(pts), 2048):  # bounded memory: 2048 x N distances at a time
        d = torch.cdist(pts[start:start + 2048], pts)
        out.append(d.topk(k + 1, largest=False).values[:, 1:].mean(dim=1))
    return torch.cat(out).numpy()


def fit_low_view(capture: Capture, photos: np.ndarray, references: Sequence[int], config: PairsConfig,
                 device: "torch.device", progress: Optional[ProgressFn] = None,
                 cancel: Optional[CancelFn] = None) -> GaussianScene:
    """A splat fitted to the reference photos only (the degraded reconstruction the enhancer learns to fix)."""
    from .refine import RefineConfig, TrainingView, refine

    densify = config.densify == "on" or (config.densify == "auto" and device.type == "cuda" and _gsplat_runs(device))
    it = config.iterations
    refine_config = RefineConfig(iterations=it, seed=config.seed, densify=densify,
                                 densify_start_iter=min(500, it // 10), densify_stop_iter=max(it // 2, 1))
    views = [TrainingView(capture.cameras[i], photos[i], 1.0, is_reference=True) for i in references]
    return refine(initial_scene(capture, config), views, refine_config, progress=progress, cancel=cancel,
                  device=device)


def _gsplat_runs(device: "torch.device") -> bool:
    from .render.gsplat_backend import gsplat_kernels

    return gsplat_kernels(device).ok


# ---------------------------------------------------------------------------------------------
# The whole run


def make_pairs(capture_path: str | Path, out_dir: str | Path, config: Optional[PairsConfig] = None,
               progress: Optional[ProgressFn] = None, cancel: Optional[CancelFn] = None) -> PairsResult:
    """Write training windows for every reference count (module doc); resumes a previous run in `out_dir`."""
    from .devices import resolve_device
    from .io import read_scene, write_scene
    from .render.views import render_views_numpy

    config = config or PairsConfig()
    device = resolve_device(config.device)
    capture = read_capture(capture_path)
    name = config.name or capture.name
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    manifest_path = out / f"{name}.pairs.json"
    manifest = _read_manifest(manifest_path, capture, capture_path, name)
    report(progress, 0.0, f"Reading {len(capture.cameras)} photos")
    cams = capture.cameras
    photos = np.stack([load_image(c.image_path, c.width, c.height) for c in cams])  # [V, H, W, 3]
    result = PairsResult()
    counts = list(dict.fromkeys(config.view_counts))
    for k, count in enumerate(counts):
        part = sub_progress(progress, k / len(counts), (k + 1) / len(counts), prefix=f"N={count}")
        references = reference_indices(len(cams), count)
        spans = window_spans(references)
        if len(references) < count or not spans:
            result.notes.append(f"{count} references leave no view between them in {len(cams)} photos: skipped.")
            continue
        names = [f"{name}-n{count:02d}-w{w:02d}" for w in range(len(spans))]
        splat = out / f"{name}-n{count:02d}.ply"
        result.splats[count] = splat
        result.windows += [out / n for n in names]
        if all((out / n).is_dir() for n in names) and splat.is_file():
            report(part, 1.0, "already done")
            continue
        started = time.perf_counter()
        if splat.is_file():
            scene = read_scene(splat)
        else:
            scene = fit_low_view(capture, photos, references, config, device, sub_progress(part, 0.0, 0.85, "fit"),
                                 cancel)
            write_scene(scene, splat)  # atomic
            result.fitted.append(count)
        renders = render_views_numpy(scene, cams, device, sub_progress(part, 0.85, 0.95, "render"), cancel)
        for (a, b), window in zip(spans, names):
            check_cancel(cancel)
            if not (out / window).is_dir():
                _write_window(out, window, photos, renders, cams, a, b)
        manifest["view_counts"][str(count)] = {"references": references, "windows": names, "splat": splat.name,
                                               "iterations": config.iterations,
                                               "seconds": round(time.perf_counter() - started, 2)}
        _write_json(manifest_path, manifest)
        report(part, 1.0, f"{len(names)} windows")
    return result


def _write_window(out: Path, name: str, photos: np.ndarray, renders: np.ndarray, cameras: Sequence[Camera],
                  a: int, b: int) -> Path:
    """One window, written under a hidden name and renamed when complete."""
    import torch

    from .enhance.data import save_window

    inputs = np.concatenate([photos[a:a + 1], renders[a + 1:b], photos[b:b + 1]])  # [F, H, W, 3]
    as_tensor = lambda x: torch.from_numpy(np.ascontiguousarray(x)).permute(0, 3, 1, 2)  # noqa: E731
    partial = out / f".{name}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    try:
        save_window(out, partial.name, as_tensor(inputs), as_tensor(photos[a:b + 1]), cameras[a:b + 1])
        partial.rename(out / name)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return out / name


def _read_manifest(path: Path, capture: Capture, capture_path, name: str) -> dict:
    fresh = {"format": MANIFEST_FORMAT, "version": 1, "capture": str(capture_path), "name": name,
             "views": [c.name for c in capture.cameras], "view_counts": {}}
    if not path.is_file():
        return fresh
    try:
        old = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"{path} cannot be read ({exc}); delete it to start this capture again.") from None
    if old.get("views") != fresh["views"]:
        raise InputError(f"{path} was made from other photos than {capture_path}; use another output folder "
                         "or --name.")
    return old


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(json.dumps(data, indent=1))
    tmp.replace(path)
