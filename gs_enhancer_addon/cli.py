"""Headless entry: the same job as the Blender button, from a terminal.

    python -m gs_enhancer_addon demo [--out DIR] [--style TEXT] [--models small|tiny|DIR|hub]
    python -m gs_enhancer_addon enhance IN.ply --cameras (cams.json | transforms.json | colmap dir)
                                       [--style TEXT] --out OUT.ply [--models tiny|small|DIR|hub]
    python -m gs_enhancer_addon make-pairs CAPTURE DATASET [--views 3,6,9,24] [--iterations N]
    python -m gs_enhancer_addon batch JOBS.toml|JOBS.json [--force]
    every run: [--devices auto|all|cpu|cuda:0,1] [--ray auto|HOST:PORT [--workers N]]
    python -m gs_enhancer_addon train-vae ... / train-enhancer ... / train-decoder ...
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

from .core.errors import GsEnhancerError, InputError
from .core.image_io import save_png
from .core.io import read_scene, write_scene
from .core.outputs import Output, check_output_folder, check_output_paths, write_outputs


class TerminalProgress:
    """A one-line progress bar on stderr: [#####.....]  45%  3/7 Enhance: window 2/4 (ETA 1m 05s)."""

    def __init__(self, stream=None, width: int = 30):
        self.stream, self.width = stream or sys.stderr, width  # sys.stderr now, not at import
        self._last_draw = 0.0

    def __call__(self, fraction: float, message: str) -> None:
        now = time.monotonic()
        if now - self._last_draw < 0.1 and fraction < 1.0:
            return
        self._last_draw = now
        filled = int(round(self.width * fraction))
        line = f"\r[{'#' * filled}{'.' * (self.width - filled)}] {fraction * 100:5.1f}%  {message}"
        self.stream.write(line[:160].ljust(160) if self.stream.isatty() else line.strip("\r") + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.stream.isatty():
            self.stream.write("\n")


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "workers", None) is not None and args.ray is None:
        parser.error("--workers needs --ray")
    try:
        return int(args.func(args) or 0)
    except GsEnhancerError as exc:  # the user's to fix: no traceback
        print(f"\nerror: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ncancelled", file=sys.stderr)
        return 130


class _OneLineErrors(argparse.ArgumentParser):
    """A bad option is one line on stderr and exit code 2, like every other user error."""

    def error(self, message: str):
        self.exit(2, f"error: {self.prog}: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineErrors(prog="python -m gs_enhancer_addon", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="enhance the built-in held-out scene's low-view splat and score it "
                                       "against its photos")
    demo.add_argument("--out", type=Path, default=Path("outputs/demo"), help="output folder (default outputs/demo)")
    _add_job_options(demo, default_preset="fast", default_models="small")
    demo.set_defaults(func=_run_demo)

    enhance = sub.add_parser("enhance", help="enhance (and restyle) a splat file along a camera path")
    enhance.add_argument("input", type=Path, help="splat file (.ply, .splat, .spz, .ksplat, .sog, or a SOG folder)")
    enhance.add_argument("--cameras", type=Path, required=True,
                         help="cameras: our cams.json, a nerfstudio/instant-ngp transforms.json, or a COLMAP sparse folder")
    enhance.add_argument("--out", type=Path, required=True, help="result splat (.ply, .splat or .spz)")
    enhance.add_argument("--blend", type=Path, default=None, help="also save a .blend with the result object")
    enhance.add_argument("--sheet", type=Path, default=None, help="also save the before/after sheet (.png)")
    enhance.add_argument("--drop-invalid", action="store_true",
                         help="leave out splats with NaN or infinite values instead of refusing the file")
    _add_job_options(enhance, default_preset="balanced")
    enhance.set_defaults(func=_run_enhance)

    pairs = sub.add_parser("make-pairs", help="enhancer training windows from a capture (photos + cameras)")
    pairs.add_argument("capture", type=Path,
                       help="capture folder (transforms.json, or a COLMAP model in sparse/0 with images/) or camera file")
    pairs.add_argument("out", type=Path, help="dataset folder for train-enhancer (an unfinished run there is resumed)")
    pairs.add_argument("--views", default="3,6,9,24", help="reference photos per low-view splat, comma separated")
    pairs.add_argument("--iterations", type=int, default=3000, help="fitting steps of each low-view splat")
    pairs.add_argument("--densify", choices=("auto", "on", "off"), default="auto", help="auto: on with a CUDA GPU")
    pairs.add_argument("--random-points", type=int, default=5000, help="random start points without COLMAP points")
    pairs.add_argument("--device", choices=("auto", "cuda", "cpu"), default="auto")
    pairs.add_argument("--seed", type=int, default=0)
    pairs.add_argument("--name", default=None, help="window name prefix (default: the capture folder's name)")
    pairs.set_defaults(func=_run_make_pairs)

    batch = sub.add_parser("batch", help="run many jobs from a TOML or JSON file; re-running resumes it")
    batch.add_argument("file", type=Path, help="the batch file (format: README, 'Many scenes')")
    batch.add_argument("--force", action="store_true", help="run every job, also those whose outputs exist")
    _add_engine_options(batch)
    batch.set_defaults(func=_run_batch)

    from .core.enhance.cli import add_training_commands  # train-vae, train-enhancer, train-decoder

    add_training_commands(sub)
    return parser


def _add_job_options(p: argparse.ArgumentParser, default_preset: str, default_models: str = "tiny") -> None:
    p.add_argument("--style", default="", help='style text, e.g. "a watercolor painting" (empty: enhance only)')
    p.add_argument("--preset", choices=("fast", "balanced", "best"), default=default_preset)
    p.add_argument("--models", default=default_models,
                   help="small (the built-in set trained on synthetic scenes, offline), tiny (built-in untrained "
                        f"test models, offline), a local folder, or 'hub' (default ids); default {default_models}")
    _add_engine_options(p)
    p.add_argument("--views-per-segment", type=int, default=None, help="novel views between two reference cameras")
    p.add_argument("--refine-iterations", type=int, default=None)
    p.add_argument("--steps", type=int, default=None, help="diffusion steps per window")


def _add_engine_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--devices", "--device", dest="device", default="auto", metavar="DEVICES",
                   help="auto (the first GPU, else the CPU), all (every GPU: the enhancer's windows are spread "
                        "over them), cpu, cuda, cuda:N or cuda:0,1")
    p.add_argument("--ray", metavar="ADDRESS", default=None,
                   help="run on Ray (pip install .[cluster]): 'auto' uses this machine's Ray instance, started if "
                        "none runs; HOST:PORT joins a cluster started with 'ray start --head'")
    p.add_argument("--workers", type=int, default=None,
                   help="with --ray: how many workers (default: one per GPU of the cluster, one per CPU without GPUs)")


def _connect(args):
    """The Ray cluster --ray names, or None (then Ray is never imported)."""
    if args.ray is None:
        return None
    from .core.cluster import connect

    cluster = connect(args.ray, workers=args.workers)
    print(cluster.describe(), file=sys.stderr)
    return cluster


def _job_config(args, views_per_segment=None, refine_iterations=None):
    """Command-line options -> JobConfig; the keyword defaults apply where the user gave none."""
    from .core.job_config import given_or, preset_config
    from .core.model_set import ModelsConfig

    return preset_config(args.preset, steps=args.steps, style=args.style, device=args.device,
                         refine_iterations=given_or(args.refine_iterations, refine_iterations),
                         views_per_segment=given_or(args.views_per_segment, views_per_segment),
                         models=ModelsConfig.from_cli(args.models))


def _run_job(config, scene, cameras, args, trajectory=None):
    from .core.job import EnhanceJob

    cluster = _connect(args)
    bar = TerminalProgress()
    try:
        return EnhanceJob(config, cluster=cluster).run(scene, cameras, path="samples" if trajectory else "references",
                                                       trajectory=trajectory, progress=bar)
    finally:
        bar.close()
        if cluster is not None:
            cluster.shutdown()


def _run_batch(args) -> int:
    from .core.batch import load_batch, run_batch, summary_table

    jobs = load_batch(args.file)
    cluster = _connect(args)
    bar = TerminalProgress()

    def write(job, output, payload) -> None:
        _write_outputs(output, job.out, job.blend, job.sheet, name=job.name, source=payload.scene,
                       cameras=payload.cameras)

    try:
        statuses = run_batch(jobs, write, device=args.device, cluster=cluster, force=args.force, progress=bar)
    finally:
        bar.close()
        if cluster is not None:
            cluster.shutdown()
    print("\n" + summary_table(statuses))
    if any(s.status == "cancelled" for s in statuses):
        return 130
    return 1 if any(s.status == "failed" for s in statuses) else 0


DEMO_REFINE_ITERATIONS = 300  # the fine-tuning of the small set's evaluation (docs/benchmarks.md)


def _run_demo(args) -> int:
    from .core.sample import heldout_sample
    from .core.trajectory import trajectory_from_samples

    out: Path = args.out
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: this is a file; the demo writes into a folder.")
    check_output_folder(out)
    config = _job_config(args, refine_iterations=DEMO_REFINE_ITERATIONS)
    splat, blend, sheet = out / "sample_enhanced.ply", out / "sample_enhanced.blend", out / "before_after.png"
    check_output_paths([(splat, "splat"), (blend, "blend"), (sheet, "image")])
    _prepare_blend_writer()
    sample = heldout_sample()  # a scene the small set never saw, its low-view splat and every photo
    trajectory = trajectory_from_samples(sample.cameras, references=sample.references)
    result = _run_job(config, sample.scene, sample.cameras, args, trajectory=trajectory)
    input_path = out / "sample_input.ply"
    write_input = Output(input_path, "splat", lambda tmp: write_scene(sample.scene, tmp))
    paths = _write_outputs(result, splat, blend, sheet, name="Sample Splat", source=sample.scene,
                           cameras=sample.cameras, extra={"input splat": write_input})
    _print_summary(result, paths)
    _print_heldout_scores(result, sample)
    return 0


def _print_heldout_scores(result, sample) -> None:
    """PSNR of the input splat and the result against the photos neither saw (the scene's truth)."""
    import numpy as np

    from .core.image_io import load_image
    from .core.image_metrics import mean_psnr

    photos = [load_image(sample.cameras[i].image_path, sample.cameras[i].width, sample.cameras[i].height)
              for i in sample.heldout]
    before, after = (mean_psnr(frames[sample.heldout], np.stack(photos)) for frames in (result.before, result.after))
    print(f"Held-out photos ({len(sample.heldout)} views the input splat was not fitted to): "
          f"input {before:.2f} dB, enhanced {after:.2f} dB PSNR ({after - before:+.2f} dB).")


def _run_enhance(args) -> int:
    from .core.capture import load_cameras

    config = _job_config(args)  # options first: a bad value fails before anything is read
    requested = [(args.out, "splat"), (args.sheet, "image"), (args.blend, "blend")]
    check_output_paths([(p, kind) for p, kind in requested if p is not None], inputs=[args.input, args.cameras])
    if args.blend is not None:
        _prepare_blend_writer()
    scene = read_scene(args.input, nonfinite="drop" if args.drop_invalid else "error")
    cameras = load_cameras(args.cameras)
    result = _run_job(config, scene, cameras, args)
    paths = _write_outputs(result, args.out, args.blend, args.sheet, name=args.input.stem, source=scene,
                           cameras=cameras)
    _print_summary(result, paths)
    return 0


def _run_make_pairs(args) -> int:
    from .core.errors import InputError
    from .core.pairs import PairsConfig, make_pairs

    try:
        counts = tuple(int(v) for v in args.views.split(",") if v.strip())
    except ValueError:
        raise InputError(f"--views takes whole numbers separated by commas, not '{args.views}'.") from None
    config = PairsConfig(view_counts=counts, iterations=args.iterations, densify=args.densify,
                         random_points=args.random_points, device=args.device, seed=args.seed, name=args.name)
    bar = TerminalProgress()
    try:
        result = make_pairs(args.capture, args.out, config, progress=bar)
    finally:
        bar.close()
    for note in result.notes:
        print(f"note: {note}")
    print(f"{len(result.windows)} training windows in {args.out.resolve()} "
          f"(low-view splats fitted now: {', '.join(map(str, result.fitted)) or 'none, all resumed'})")
    return 0


def _prepare_blend_writer() -> None:
    """Import bpy now, before the job, with Ctrl+C held back: an interrupt inside bpy's import
    crashes the process; here it is raised right after, before any output exists."""
    import signal

    interrupted = []
    previous = signal.signal(signal.SIGINT, lambda *_: interrupted.append(True))
    try:
        import bpy  # noqa: F401
    except ImportError:
        raise InputError("Writing a .blend needs the bpy module (pip install bpy); leave out --blend.") from None
    finally:
        signal.signal(signal.SIGINT, previous)
    if interrupted:
        raise KeyboardInterrupt


def _write_outputs(result, splat_path: Path, blend_path: Optional[Path], sheet_path: Optional[Path],
                   name: str, source=None, cameras=(), extra: Optional[dict[str, Output]] = None) -> dict[str, Path]:
    """Every output complete, or none of them (core/outputs.py)."""
    outputs = {"result splat": Output(splat_path, "splat", lambda tmp: write_scene(result.scene, tmp)), **(extra or {})}
    if sheet_path is not None:
        outputs["before/after sheet"] = Output(sheet_path, "image", lambda tmp: save_png(result.comparison_sheet(), tmp))
    if blend_path is not None:
        from .blender.headless import save_result_blend  # needs the bpy module

        outputs["blend file"] = Output(
            blend_path, "blend", lambda tmp: save_result_blend(tmp, result.scene, name, source=source, cameras=cameras))
    write_outputs(list(outputs.values()))
    return {label: output.path for label, output in outputs.items()}


def _print_summary(result, paths: dict[str, Path]) -> None:
    timing = ", ".join(f"{k} {v:.1f}s" for k, v in result.stage_seconds.items())
    print(f"\nEnhanced {len(result.scene)} Gaussians over {len(result.trajectory.cameras)} views ({timing}).")
    for note in result.notes:
        print(f"note: {note}")
    for label, path in paths.items():
        print(f"{label}: {path.resolve()}")
