"""Does Enhance make a splat better? Data, training and evaluation of the small enhancer set, from scratch.

    python scripts/enhancer_proof.py [--work outputs/proof] [--stages all] [--jobs 2]

Stages (each resumes: finished parts are kept, so an interrupted run is continued by running it again):
  captures  Blender renders the synthetic scenes (scripts/make_synthetic_captures.py): --train-scenes
            (seeds 0..), --validation-scenes (seeds 200..) and --heldout-scenes (seeds 100..), 48
            views at 128 x 96 each.
  pairs     `make-pairs` on every scene (reference counts --views, low-view fits of --fit-iterations
            from --random-points random Gaussians), --jobs scenes at a time; training scenes into
            pairs/train (the dataset); validation and held-out scenes into their own folders (only
            their low-view splats and reference lists are used).
  base      the small architecture with fresh seeded weights (components.small_components) saved as
            `fresh/` (the "untrained" ablation) and its VAE as `fresh-vae/`.
  vae       `train-vae` from scratch on the training windows -> runs/vae; `stage-vae/` = fresh/ with it.
  unet      `train-enhancer --layers all` (every UNet weight and the pose embedding) -> runs/unet.
  decoder   `train-decoder` (temporal decoder + CFW) -> runs/decoder.
  assemble  `small/enhancer/`: the trained UNet, pose embedding and decoder with the fixed CLIP encoder,
            every weight stored as float16.
  tune      diffusion steps and guidance, chosen on the validation scenes (the enhanced frames' PSNR
            at their non-reference views); writes `small/MANIFEST.json` (hashes, commands, seeds,
            training times, the chosen settings as the set's recommendation).
  evaluate  on the held-out scenes' held-out views (every photo that is not a reference of the
            low-view splat): (a) the low-view splat; (b) Enhance (enhancement + confidence-aware
            fine-tuning, the add-on's job) with the trained set; one-change ablations of (b); the
            enhanced frames alone. Writes --json (docs/bench/enhancer-proof.json) and prints the table.
  ship      copies small/ into the add-on (gs_enhancer_addon/models/small-synthetic/) and the first
            held-out scene (photos, cameras, low-view splat) to the demo's sample folder.

Every command run is printed; stage wall times go to <work>/times.json, command output to <work>/logs/.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

STAGES = ("captures", "pairs", "base", "vae", "unet", "decoder", "assemble", "tune", "evaluate", "ship")
HELDOUT_SEED = 100
VALIDATION_SEED = 200
PYTHON = sys.executable


# ---------------------------------------------------------------------------------------------
# Helpers


def run(command: list[str], *, threads: int | None = None, log: Path | None = None) -> None:
    """Run one command (printed), optionally with `threads` CPU threads; raise if it fails."""
    env = dict(os.environ)
    if threads is not None:
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    print("$ " + " ".join(command), flush=True)
    if log is None:
        done = subprocess.run(command, cwd=ROOT, env=env)
    else:
        with open(log, "a") as sink:
            done = subprocess.run(command, cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT)
    if done.returncode:
        raise SystemExit(f"failed ({done.returncode}): {' '.join(command)}" + (f"; see {log}" if log else ""))


def made_by(args) -> str:
    """The command that regenerates everything with this run's settings (its --stages left out)."""
    argv, kept = iter(args.argv), []
    for item in argv:
        if item == "--stages":
            next(argv, None)  # and its value
        elif not item.startswith("--stages="):
            kept.append(item)
    return " ".join(["python scripts/enhancer_proof.py", *kept])


def cli(*args: str) -> list[str]:
    return [PYTHON, "-m", "gs_enhancer_addon", *args]


def shown(command: list[str]) -> str:
    """A command as the docs and manifests print it: `python` for this interpreter's path."""
    return " ".join(["python" if part == PYTHON else part for part in command])


class Times:
    """Wall seconds per stage, summed over resumed runs (<work>/times.json; read again before each
    change, so that runs of different stages side by side keep each other's entries)."""

    def __init__(self, path: Path):
        self.path = path

    @property
    def data(self) -> dict:
        return json.loads(self.path.read_text()) if self.path.is_file() else {}

    def add(self, stage: str, seconds: float) -> None:
        data = self.data
        data[stage] = round(data.get(stage, 0.0) + seconds, 1)
        self.path.write_text(json.dumps(data, indent=1))


def splits(args) -> list[tuple[str, int, int]]:
    """(split, scenes, first seed): training, validation (the tune stage) and held-out (the evaluation)."""
    return [("train", args.train_scenes, 0), ("validation", args.validation_scenes, VALIDATION_SEED),
            ("heldout", args.heldout_scenes, HELDOUT_SEED)]


def scene_names(count: int, first_seed: int) -> list[str]:
    return [f"scene_{first_seed + k:03d}" for k in range(count)]


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def machine() -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()}-core {cpu} CPU, {memory:.0f} GiB, {gpu}; torch {torch.__version__}"


# ---------------------------------------------------------------------------------------------
# Data


def stage_captures(args, work: Path) -> None:
    for split, count, seed in splits(args):
        done = lambda k, split=split, seed=seed: (  # noqa: E731
            work / "captures" / split / f"scene_{seed + k:03d}" / "truth.json").is_file()
        todo = [k for k in range(count) if not done(k)]

        def one(k: int, split=split, seed=seed) -> None:
            width, height = args.capture_size.split("x")
            run([PYTHON, "scripts/make_synthetic_captures.py", "--out", str(work / "captures" / split), "--seed",
                 str(seed), "--first", str(k), "--scenes", "1", "--views", str(args.capture_views), "--width", width,
                 "--height", height, "--samples", str(args.capture_samples)],
                log=work / "logs" / f"captures-{split}.log")

        with ThreadPoolExecutor(args.jobs) as pool:
            list(pool.map(one, todo))


def pairs_command(args, capture: Path, out: Path) -> list[str]:
    return cli("make-pairs", str(capture), str(out), "--views", args.views, "--iterations", str(args.fit_iterations),
               "--random-points", str(args.random_points), "--device", "cpu", "--seed", "0")


def stage_pairs(args, work: Path) -> None:
    jobs = [(work / "captures" / split / name, work / "pairs" / split)
            for split, count, seed in splits(args) for name in scene_names(count, seed)]
    with ThreadPoolExecutor(args.jobs) as pool:  # one thread per process: the scenes run side by side
        list(pool.map(lambda job: run(pairs_command(args, *job), threads=1, log=work / "logs" / "pairs.log"), jobs))


# ---------------------------------------------------------------------------------------------
# Training


def stage_base(args, work: Path) -> None:
    from gs_enhancer_addon.core.enhance.components import small_components
    from gs_enhancer_addon.core.enhance.pipeline import EnhancerPipeline

    if (work / "fresh" / "model_index.json").is_file():
        return
    components = small_components(seed=0)
    components["decoder"].vae.save_pretrained(work / "fresh-vae", safe_serialization=True)
    EnhancerPipeline(**components).save_pretrained(work / "fresh")


def train_command(kind: str, args, work: Path) -> list[str]:
    dataset, runs = str(work / "pairs" / "train"), work / "runs"
    frames = args.max_frames if kind == "unet" else args.vae_max_frames  # the autoencoders need fewer per step
    common = ["--device", "cpu", "--max-frames", str(frames), "--checkpoint-every", "100", "--seed", "0"]
    if kind == "vae":
        return cli("train-vae", dataset, str(runs / "vae"), "--base", str(work / "fresh-vae"),
                   "--steps", str(args.vae_steps), "--learning-rate", "2e-4", "--perceptual-weight", "0.1", *common)
    if kind == "unet":
        return cli("train-enhancer", dataset, str(runs / "unet"), "--base", str(work / "stage-vae"), "--layers", "all",
                   "--steps", str(args.unet_steps), "--learning-rate", "2e-4", "--p-mean", str(args.p_mean),
                   "--p-std", str(args.p_std), *common)
    return cli("train-decoder", dataset, str(runs / "decoder"), "--base", str(work / "stage-vae"),
               "--steps", str(args.decoder_steps), "--learning-rate", "1e-4", "--disc-start",
               str(args.decoder_steps // 2), *common)


def stage_train(kind: str, args, work: Path) -> None:
    output = {"vae": work / "runs" / "vae" / "vae", "unet": work / "runs" / "unet" / "unet",
              "decoder": work / "runs" / "decoder" / "decoder"}[kind]
    if not output.is_dir():
        run(train_command(kind, args, work), log=work / "logs" / f"train-{kind}.log")
    if kind == "vae":  # the base of the next two trainings: fresh/ with the trained VAE, no decoder/
        stage = work / "stage-vae"
        shutil.rmtree(stage, ignore_errors=True)
        shutil.copytree(work / "fresh", stage, ignore=shutil.ignore_patterns("decoder"))
        shutil.copytree(output, stage / "vae")


def stage_assemble(args, work: Path) -> None:
    """small/enhancer/: fresh/'s CLIP, processor and scheduler; the trained UNet (+ pose embedding) and
    decoder; every weight stored as float16 (half the size; the loader casts to the run's precision)."""
    import torch

    from gs_enhancer_addon.core.enhance.decoder import SpatialTemporalDecoder
    from gs_enhancer_addon.core.enhance.pose import POSE_FOLDER, PoseEmbedding
    from gs_enhancer_addon.core.models import quiet_loading
    from diffusers import UNetSpatioTemporalConditionModel
    from transformers import CLIPVisionModelWithProjection

    out = work / "small" / "enhancer"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    for name in ("model_index.json", "feature_extractor", "scheduler"):
        source = work / "fresh" / name
        (shutil.copytree if source.is_dir() else shutil.copy)(source, out / name)

    def save_half(module, folder: Path) -> None:  # float16 weights under the plain file name
        torch.nn.Module.to(module, torch.float16).save_pretrained(folder, safe_serialization=True)

    with quiet_loading():
        trained_unet = work / "runs" / "unet" / "unet"
        save_half(UNetSpatioTemporalConditionModel.from_pretrained(trained_unet), out / "unet")
        save_half(PoseEmbedding.from_pretrained(trained_unet / POSE_FOLDER), out / "unet" / POSE_FOLDER)
        save_half(SpatialTemporalDecoder.from_pretrained(work / "runs" / "decoder" / "decoder"), out / "decoder")
        save_half(CLIPVisionModelWithProjection.from_pretrained(work / "fresh" / "image_encoder"),
                  out / "image_encoder")


def write_manifest(args, work: Path) -> None:
    """small/MANIFEST.json: what the set is, its recommended settings (the tune stage's), how it was made."""
    times = Times(work / "times.json").data
    files = sorted(p for p in (work / "small" / "enhancer").rglob("*") if p.is_file())
    manifest = {
        "name": "small, trained on synthetic scenes",
        "format": "gs-enhancer-model-set", "version": 1,
        "what": "3DGS-Enhancer's video enhancer at small scale (128 x 96 px frames; components.small_components), "
                f"trained from scratch on CPU on {args.train_scenes} procedural Blender scenes; the CLIP image "
                "encoder is fixed random (never trained). See docs/benchmarks.md.",
        "note": "Models: the small set trained on synthetic scenes (128 x 96 px); it improves low-view splats "
                "like those scenes and is not meant for real captures at full size.",
        "recommended": tuned(args, work),
        "made_by": made_by(args),
        "commands": {
            "pairs": shown(pairs_command(args, Path("<capture>"), Path("<pairs>"))),
            **{kind: shown(train_command(kind, args, Path("<work>"))) for kind in ("vae", "unet", "decoder")},
        },
        "seeds": {split: [seed, seed + count - 1] for split, count, seed in splits(args)}
                 | {"weights": 0, "training": 0, "make_pairs": 0},
        "training_seconds": {k: times[k] for k in ("vae", "unet", "decoder") if k in times},
        "machine": machine(),
        "files": {str(p.relative_to(work / "small")): sha256(p) for p in files},
    }
    (work / "small" / "MANIFEST.json").write_text(json.dumps(manifest, indent=1))


# ---------------------------------------------------------------------------------------------
# Evaluation


def variants(settings: dict) -> dict[str, tuple[str, dict, dict]]:
    """name -> (model set, EnhancerConfig changes, RefineConfig changes): (b) and its one-change ablations.
    CFW and colour correction are switched away from the tuned `settings`, whichever way those went."""
    cfw_on, correct = settings.get("fusion_weight", 0.5) > 0, settings.get("color_correction", True)
    return {
        "full": ("small", {}, {}),
        "untrained": ("fresh", {}, {}),
        "no_enhancer": ("none", {}, {}),  # control: the same fine-tuning on the renders themselves
        "no_pose": ("small", {"pose_conditioning": False}, {}),
        "repeated_clip": ("small", {"per_frame_clip": False}, {}),
        "cfw_off" if cfw_on else "cfw_on": ("small", {"fusion_weight": 0.0 if cfw_on else 0.5}, {}),
        "color_correction_off" if correct else "color_correction_on": ("small", {"color_correction": not correct}, {}),
        "uniform_confidence": ("small", {}, {"pixel_confidence": False, "image_confidence": False}),
    }


def view_metrics(images, photos, indices) -> tuple[float, float]:
    """Mean PSNR and SSIM over the views `indices` ([V, H, W, 3] arrays in [0, 1])."""
    import torch

    from gs_enhancer_addon.core.image_metrics import mean_psnr, ssim

    a = torch.from_numpy(images[indices]).float().clamp(0, 1)
    b = torch.from_numpy(photos[indices]).float()
    return mean_psnr(a, b), float(ssim(a, b, reduction="none").mean())


class Case:
    """One scene of a split at one reference count: its photos, low-view splat and sampled path."""

    def __init__(self, work: Path, split: str, name: str, count: int):
        import numpy as np

        from gs_enhancer_addon.core.image_io import load_image
        from gs_enhancer_addon.core.io import read_scene
        from gs_enhancer_addon.core.pairs import read_capture, reference_indices
        from gs_enhancer_addon.core.trajectory import trajectory_from_samples

        self.cameras = read_capture(work / "captures" / split / name).cameras
        self.photos = np.stack([load_image(c.image_path, c.width, c.height) for c in self.cameras])  # [V, H, W, 3]
        references = reference_indices(len(self.cameras), count)
        self.heldout = [i for i in range(len(self.cameras)) if i not in references]  # never seen by the splat
        self.low = read_scene(work / "pairs" / split / f"{name}-n{count:02d}.ply")
        self.trajectory = trajectory_from_samples(self.cameras, references=references)

    def score(self, images) -> tuple[float, float]:
        return view_metrics(images, self.photos, self.heldout)

    def render(self, scene):
        import torch

        from gs_enhancer_addon.core.render.views import render_views_numpy

        return render_views_numpy(scene, self.cameras, torch.device("cpu"))

    @cached_property
    def low_renders(self):  # -> [V, H, W, 3]: the low-view splat at every camera, rendered once per case
        return self.render(self.low)

    def unenhanced(self):  # -> [V, H, W, 3]: the references' photos and the low-view renders elsewhere
        frames = self.low_renders.copy()
        frames[self.trajectory.reference_indices] = self.photos[self.trajectory.reference_indices]
        return frames

    def enhance(self, models, enhance, cache):  # -> [V, H, W, 3]: references' photos, enhanced renders
        """The add-on's job up to the enhanced frames (no fine-tuning)."""
        from gs_enhancer_addon.core.job import EnhanceJob
        from gs_enhancer_addon.core.job_config import JobConfig
        from gs_enhancer_addon.core.refine_config import RefineConfig

        job = EnhanceJob(JobConfig(enhance=enhance, refine=RefineConfig(iterations=0), models=models, device="cpu"),
                         cache=cache)
        return job.run(self.low, self.cameras, path="samples", trajectory=self.trajectory).generated

    def fine_tune(self, generated, refine_config):
        """The job's confidence-aware fine-tuning of the low-view splat on the enhanced frames."""
        from gs_enhancer_addon.core.job import training_views
        from gs_enhancer_addon.core.refine import refine

        return refine(self.low, training_views(generated, self.trajectory), refine_config, device="cpu")


def enhancer_config(settings: dict, seed: int, **changes):
    """EnhancerConfig from the tuned settings (tuned()), a seed and one variant's changes."""
    from gs_enhancer_addon.core.enhance.config import EnhancerConfig

    return EnhancerConfig(**{**settings, "seed": seed, **changes})


_CACHE = None  # one model cache per evaluation process


def _model_cache(threads: int = 1):
    """This process's model cache, with `threads` CPU threads (1: one evaluation process per core)."""
    global _CACHE
    if _CACHE is None:
        import torch

        from gs_enhancer_addon.core.model_cache import ModelCache

        torch.set_num_threads(threads)
        _CACHE = ModelCache()
    return _CACHE


def evaluate_scene(args, work: Path, name: str, count: int, seed: int, settings: dict, chosen: list[str]) -> dict:
    """The `chosen` variants on one held-out scene: PSNR/SSIM at its non-reference views."""
    from gs_enhancer_addon.core.model_set import ModelsConfig
    from gs_enhancer_addon.core.refine_config import RefineConfig

    cache = _model_cache()
    case = Case(work, "heldout", name, count)
    sets = {"small": ModelsConfig.from_folder(work / "small"), "fresh": ModelsConfig.from_folder(work / "fresh")}
    row = {"low_view": case.score(case.low_renders)}
    enhanced = {}
    for variant, (model_set, enhance_changes, refine_changes) in variants(settings).items():
        if variant not in chosen:
            continue
        key = (model_set, tuple(sorted(enhance_changes.items())))
        if key not in enhanced:
            enhanced[key] = (case.enhance(sets[model_set], enhancer_config(settings, seed, **enhance_changes), cache)
                             if model_set != "none" else case.unenhanced())
        refined = case.fine_tune(enhanced[key], RefineConfig(iterations=args.refine_iterations, seed=seed,
                                                             **refine_changes))
        row[variant] = case.score(case.render(refined))
        if not refine_changes:
            row[f"{variant}:enhanced_frames"] = case.score(enhanced[key])
        print(f"  {name} N={count} seed {seed} {variant}: {row[variant][0]:.2f} dB (low-view "
              f"{row['low_view'][0]:.2f})", flush=True)
    return row


def stage_tune(args, work: Path) -> None:
    """The trained set's inference settings, chosen on the validation scenes (never on the held-out
    ones) by the enhanced frames' PSNR at their non-reference views, in two rounds: diffusion steps
    x guidance, then, with the best of those, the CFW weight x colour correction."""
    from gs_enhancer_addon.core.model_set import ModelsConfig

    path = work / "tuned.json"
    if not path.is_file():
        cache = _model_cache(threads=args.jobs)
        models = ModelsConfig.from_folder(work / "small")
        cases = [Case(work, "validation", name, args.eval_views)
                 for name in scene_names(args.validation_scenes, VALIDATION_SEED)]
        scores: dict[str, float] = {}

        def best_of(candidates: list[dict]) -> dict:
            results = []
            for settings in candidates:
                psnr = sum(case.score(case.enhance(models, enhancer_config(settings, 0), cache))[0]
                           for case in cases) / len(cases)
                scores[json.dumps(settings, sort_keys=True)] = round(psnr, 3)
                print(f"  validation: {settings}: {psnr:.2f} dB", flush=True)
                results.append((psnr, settings))
            return max(results, key=lambda r: r[0])[1]

        best = best_of([{"num_inference_steps": steps, **guidance_scales(guidance)}
                        for steps in (int(v) for v in args.tune_steps.split(","))
                        for guidance in (float(v) for v in args.tune_guidance.split(","))])
        best = best_of([{**best, "fusion_weight": weight, "color_correction": correct}
                        for weight in (0.0, 0.5, 1.0) for correct in (True, False)])
        path.write_text(json.dumps({"settings": best, "validation_psnr": scores}, indent=1))
    write_manifest(args, work)


def guidance_scales(scale: float) -> dict:
    """EnhancerConfig's guidance for a max scale: the ramp starts at 1 (or at the scale, below 1)."""
    return {"max_guidance_scale": scale, "min_guidance_scale": min(1.0, scale)}


def tuned(args, work: Path) -> dict:
    """The tune stage's EnhancerConfig settings; --steps / --guidance replace its choice of those."""
    if not (work / "tuned.json").is_file():
        raise SystemExit("run the tune stage first")
    settings = dict(json.loads((work / "tuned.json").read_text())["settings"])
    if args.steps is not None:
        settings["num_inference_steps"] = args.steps
    if args.guidance is not None:
        settings.update(guidance_scales(args.guidance))
    return settings


def stage_evaluate(args, work: Path) -> None:
    """--variants on every held-out scene for every --seeds; finished (scene, seed, variant) results are kept,
    so a later run can add seeds or variants."""
    from concurrent.futures import ProcessPoolExecutor

    rows_path = work / "evaluation-rows.json"
    rows = json.loads(rows_path.read_text()) if rows_path.is_file() else {}
    count, settings = args.eval_views, tuned(args, work)
    chosen = list(variants(settings)) if args.variants == "all" else args.variants.split(",")
    todo = {}
    for name in scene_names(args.heldout_scenes, HELDOUT_SEED):
        for seed in (int(s) for s in args.seeds.split(",")):
            key = f"{name}/n{count:02d}/seed{seed}"
            missing = [v for v in chosen if v not in rows.get(key, {})]
            if missing:
                todo[key] = (name, seed, missing)
    with ProcessPoolExecutor(args.jobs) as pool:
        futures = {key: pool.submit(evaluate_scene, args, work, name, count, seed, settings, missing)
                   for key, (name, seed, missing) in todo.items()}
        for key, future in futures.items():
            rows[key] = {**rows.get(key, {}), **future.result()}
            rows_path.write_text(json.dumps(rows, indent=1))
    summarize(args, work, rows, count)


def summarize(args, work: Path, rows: dict, count: int) -> None:
    """Per column: each scene's value is its mean over the seeds that ran it; the table gives the mean
    over scenes, the spread (std) over scenes, and the mean over scenes of the spread over seeds."""
    import numpy as np

    names = scene_names(args.heldout_scenes, HELDOUT_SEED)
    runs = {n: [row for key, row in rows.items() if key.startswith(f"{n}/n{count:02d}/")] for n in names}
    columns = list(dict.fromkeys(c for n in names for row in runs[n] for c in row))
    table, seeds = {}, {}
    for column in columns:
        values = [np.array([row[column] for row in runs[n] if column in row]) for n in names]  # [seeds, 2] each
        if any(len(v) == 0 for v in values):
            continue  # not run on every scene
        per_scene = np.stack([v.mean(axis=0) for v in values])  # [S, 2]
        seeds[column] = min(len(v) for v in values)
        table[column] = {
            "psnr": round(float(per_scene[:, 0].mean()), 3), "ssim": round(float(per_scene[:, 1].mean()), 4),
            "psnr_std_over_scenes": round(float(per_scene[:, 0].std()), 3),
            "psnr_std_over_seeds": round(float(np.mean([v[:, 0].std() for v in values])), 3),
            "seeds": seeds[column],
            "psnr_per_scene": {n: round(float(v), 3) for n, v in zip(names, per_scene[:, 0])},
        }
    times = Times(work / "times.json").data
    result = {
        "heldout_psnr_low_view": table["low_view"]["psnr"],
        "heldout_psnr_full": table["full"]["psnr"],
        "heldout_psnr_untrained": table["untrained"]["psnr"],
        "scenes_heldout": len(names),
        "machine": machine(),
        "reference_views": count,
        "heldout_views_per_scene": args.capture_views - count,
        "seeds_per_variant": seeds,
        "settings": {"enhancer": tuned(args, work), "refine_iterations": args.refine_iterations,
                     "fit_iterations": args.fit_iterations, "random_points": args.random_points,
                     "train_scenes": args.train_scenes, "views": args.views, "max_frames": args.max_frames,
                     "vae_max_frames": args.vae_max_frames,
                     "vae_steps": args.vae_steps, "unet_steps": args.unet_steps, "decoder_steps": args.decoder_steps},
        "seconds": times,
        "table": table,
        "made_by": made_by(args),
    }
    out = ROOT / args.json
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(f"\nHeld-out views, mean of {len(names)} scenes (markdown for docs/benchmarks.md):\n")
    print("| variant | PSNR (dB) | SSIM | PSNR std over scenes | over seeds | seeds |\n|---|---:|---:|---:|---:|---:|")
    for column, values in table.items():
        print(f"| {column} | {values['psnr']:.2f} | {values['ssim']:.3f} | {values['psnr_std_over_scenes']:.2f} "
              f"| {values['psnr_std_over_seeds']:.2f} | {values['seeds']} |")
    print(f"\nwritten: {out}")


def stage_ship(args, work: Path) -> None:
    """The trained set into the add-on (gs_enhancer_addon/models/small-synthetic) and the first held-out
    scene as the demo's sample (gs_enhancer_addon/sample/heldout-scene)."""
    from gs_enhancer_addon.core.model_set import SMALL_SET_DIR
    from gs_enhancer_addon.core.sample import HELDOUT_SAMPLE_DIR

    shutil.rmtree(SMALL_SET_DIR, ignore_errors=True)
    shutil.copytree(work / "small", SMALL_SET_DIR)
    name = scene_names(1, HELDOUT_SEED)[0]
    sample = HELDOUT_SAMPLE_DIR
    shutil.rmtree(sample, ignore_errors=True)
    shutil.copytree(work / "captures" / "heldout" / name, sample, ignore=shutil.ignore_patterns("truth.json"))
    count = args.eval_views
    shutil.copy(work / "pairs" / "heldout" / f"{name}-n{count:02d}.ply", sample / "low-view.ply")
    manifest = json.loads((work / "pairs" / "heldout" / f"{name}.pairs.json").read_text())
    references = {"scene": name, "references": manifest["view_counts"][str(count)]["references"],
                  "fit_iterations": args.fit_iterations,
                  "made_by": shown(pairs_command(args, Path("<capture>"), Path("<pairs>")))}
    (sample / "references.json").write_text(json.dumps(references, indent=1) + "\n")


# ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path, default=ROOT / "outputs" / "proof")
    parser.add_argument("--stages", default="all", help=f"comma-separated, from {', '.join(STAGES)}; or all")
    parser.add_argument("--jobs", type=int, default=2, help="scenes rendered / fitted at once (CPU cores)")
    parser.add_argument("--train-scenes", type=int, default=20)
    parser.add_argument("--validation-scenes", type=int, default=2)
    parser.add_argument("--heldout-scenes", type=int, default=5)
    parser.add_argument("--capture-views", type=int, default=48)
    parser.add_argument("--capture-size", default="128x96", help="WIDTHxHEIGHT of the photos")
    parser.add_argument("--capture-samples", type=int, default=32, help="Cycles samples per pixel")
    parser.add_argument("--views", default="3,6", help="make-pairs reference counts")
    parser.add_argument("--fit-iterations", type=int, default=300)
    parser.add_argument("--random-points", type=int, default=2000)
    parser.add_argument("--max-frames", type=int, default=12, help="frames per UNet training step (window subset)")
    parser.add_argument("--vae-max-frames", type=int, default=4, help="frames per VAE / decoder training step")
    parser.add_argument("--vae-steps", type=int, default=1200)
    parser.add_argument("--unet-steps", type=int, default=2000)
    parser.add_argument("--decoder-steps", type=int, default=600)
    parser.add_argument("--p-mean", type=float, default=0.5)
    parser.add_argument("--p-std", type=float, default=1.6)
    parser.add_argument("--eval-views", type=int, default=3, help="reference count evaluated (and tuned on)")
    parser.add_argument("--steps", type=int, default=None, help="diffusion steps per window (default: the tuned)")
    parser.add_argument("--guidance", type=float, default=None, help="max guidance scale (default: the tuned)")
    parser.add_argument("--tune-steps", default="1,2,4,8", help="diffusion steps tried by the tune stage")
    parser.add_argument("--tune-guidance", default="1,2", help="max guidance scales tried by the tune stage")
    parser.add_argument("--refine-iterations", type=int, default=300)
    parser.add_argument("--variants", default="all", help="evaluated variants, comma separated (full and untrained "
                                                               "are needed for the summary)")
    parser.add_argument("--seeds", default="0,1", help="evaluation seeds (enhancement noise, fine-tuning order)")
    parser.add_argument("--json", default="docs/bench/enhancer-proof.json")
    args = parser.parse_args(argv)
    args.argv = argv
    work = args.work.resolve()
    (work / "logs").mkdir(parents=True, exist_ok=True)
    stages = STAGES if args.stages == "all" else tuple(s.strip() for s in args.stages.split(","))
    unknown = set(stages) - set(STAGES)
    if unknown:
        parser.error(f"unknown stages {sorted(unknown)}")
    times = Times(work / "times.json")
    steps = {"captures": stage_captures, "pairs": stage_pairs, "base": stage_base,
             "vae": lambda a, w: stage_train("vae", a, w), "unet": lambda a, w: stage_train("unet", a, w),
             "decoder": lambda a, w: stage_train("decoder", a, w), "assemble": stage_assemble,
             "tune": stage_tune, "evaluate": stage_evaluate, "ship": stage_ship}
    for stage in STAGES:
        if stage in stages:
            print(f"== {stage}", flush=True)
            started = time.perf_counter()
            steps[stage](args, work)
            times.add(stage, time.perf_counter() - started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
