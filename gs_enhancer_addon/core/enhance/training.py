"""Fine-tuning the enhancer (3DGS-Enhancer, Sec. 3.2-3.3), which the official release lacks for the decoder.

* `train_enhancer`: the SVD UNet's temporal layers (temporal transformer blocks, temporal res blocks,
  time mixers, frame position embeddings) and the pose embedding (pose.py; windows with cameras)
  are trained, everything else frozen (`layers="temporal"`; `layers="all"` trains every UNet weight,
  for a model trained from scratch), with SVD's EDM
  diffusion loss (sigma ~ logN(P_mean, P_std), v-prediction preconditioning, weight (1+s^2)/s^2;
  as SVD_Xtend/SVDFor3D) on windows of (degraded renders + references -> ground truth), with
  per-frame CLIP + latent conditioning and conditioning dropout for classifier-free guidance.
* `train_decoder`: the spatial-temporal decoder's temporal decoder + CFW blocks (encoder frozen)
  with L1 + perceptual + adversarial losses (losses.py). The latents it decodes are the ground
  truth's latents plus Gaussian noise of std `latent_noise`, a stand-in for the diffusion output's
  error (running the diffusion per step would be far slower); CFW sees the degraded renders.

Both: dataset folder format in data.py, mixed precision (bf16 autocast) on CUDA, checkpoints every
`checkpoint_every` steps (`checkpoint-NNNNNN/`: trainable weights as safetensors, optimizer state,
step), automatic resume from the newest checkpoint, progress + cancel per step, and a final
diffusers-layout folder (`unet/` with `unet/pose_embedding/`, or `decoder/`) that
`EnhancerSources(unet=...|decoder=...)` loads.
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal, Optional

import torch
from torch import Tensor

from ..errors import InputError
from ..models import ModelSource
from ..progress import CancelFn, ProgressFn, check_cancel, report, sub_progress
from ..devices import resolve_device
from ..models import DEFAULT_ENHANCER_REPO
from .components import load_enhancer
from .conditioning import added_time_ids, encode_frames_clip, run_unet, time_id_values
from .config import EnhancerSources
from .data import WindowPair, load_dataset
from .losses import (
    PatchDiscriminator, discriminator_hinge_loss, generator_hinge_loss, perceptual_loss,
)
from .pipeline import EnhancerPipeline
from .pose import pose_vectors, save_pose_embedding
from .sizing import to_model_size

TEMPORAL_KEYS = ("temporal_transformer_blocks", "temporal_res_block", "time_mixer", "time_pos_embed")
TrainLayers = Literal["temporal", "all"]


@dataclass
class TrainCommon:
    """Settings shared by both trainings."""

    dataset: str  # dataset folder (format: core/enhance/data.py)
    output_dir: str  # checkpoints and the final model folder go here
    base: str = DEFAULT_ENHANCER_REPO  # base SVD folder or hub id (unet/ vae/ image_encoder/ ...)
    steps: int = 10_000  # optimizer steps
    learning_rate: float = 1e-5  # AdamW (SVD_Xtend's fine-tuning rate)
    checkpoint_every: int = 500  # steps between checkpoints
    resume: bool = True  # continue from the newest checkpoint in output_dir
    device: str = "auto"  # "auto": CUDA when present, else CPU
    mixed_precision: bool = True  # bf16 autocast on CUDA (ignored on CPU)
    max_pixels: int = 576 * 1024  # windows above this area are downscaled (sizing rule)
    max_frames: Optional[int] = None  # longer windows: a random subset of their frames per step (both
    #   references and the frame order kept; see subsample_window); None = whole windows
    seed: int = 0  # data order and noise

    def __post_init__(self) -> None:
        if self.max_frames is not None and self.max_frames < 3:
            raise InputError("max_frames must be at least 3 (two references and one render).")


@dataclass
class EnhancerTrainConfig(TrainCommon):
    p_mean: float = 0.7  # log-normal sigma sampling mean (SVD/EDM training; higher trains more at the
    #   large noise levels that few-step sampling starts from)
    p_std: float = 1.6  # log-normal sigma sampling std
    conditioning_dropout: float = 0.1  # probability of dropping CLIP + latent conditioning (enables CFG)
    noise_aug_strength: float = 0.02  # noise on the conditioning frames, as at inference
    fps: int = 7  # micro-conditioning, as at inference
    motion_bucket_id: int = 127  # micro-conditioning, as at inference
    layers: TrainLayers = "temporal"  # "temporal": temporal layers + pose embedding (3DGS-Enhancer, real SVD);
    #   "all": every UNet weight + pose embedding (a small model trained from scratch)


@dataclass
class DecoderTrainConfig(TrainCommon):
    learning_rate: float = 1e-4  # decoder + CFW (StableSR trains CFW at 1e-4)
    decoder: Optional[str] = None  # start from a trained decoder folder; None = base VAE + zero CFW
    l1_weight: float = 1.0  # pixel L1
    perceptual_weight: float = 1.0  # perceptual (VAE-feature LPIPS substitute)
    adversarial_weight: float = 0.025  # generator hinge loss weight
    disc_start: int = 1000  # steps before the adversarial loss is used
    latent_noise: float = 0.1  # std of the noise standing in for the diffusion output's error
    fusion_weight: float = 1.0  # CFW weight w during training


@dataclass
class TrainResult:
    output: Path  # the final model folder
    losses: list[float] = field(default_factory=list)  # one per step run in this call
    step: int = 0  # the global step reached


def _autocast(device: torch.device, enabled: bool):
    return torch.autocast("cuda", dtype=torch.bfloat16, enabled=enabled and device.type == "cuda")


def temporal_parameters(unet) -> dict[str, torch.nn.Parameter]:
    """The UNet's temporal layers: what train_enhancer trains by default (with the pose embedding)."""
    return {n: p for n, p in unet.named_parameters() if any(k in n for k in TEMPORAL_KEYS)}


def enhancer_trainable_parameters(pipe: EnhancerPipeline, layers: TrainLayers) -> dict[str, torch.nn.Parameter]:
    """What train_enhancer optimises: the UNet's temporal layers (or all of it) and the pose embedding."""
    if layers not in ("temporal", "all"):
        raise InputError(f"Unknown layers '{layers}' to train; use 'temporal' or 'all'.")
    unet = temporal_parameters(pipe.unet) if layers == "temporal" else dict(pipe.unet.named_parameters())
    pose = {f"pose_embedding.{n}": p for n, p in pipe.pose_embedding.named_parameters()}
    return {**unet, **pose}


@dataclass
class StepState:
    """What one training step shares with the loop and the step after it (explicit, not on a function)."""

    step: int = 0  # the global step being computed; set by the loop
    last: Optional[tuple[Tensor, Tensor]] = None  # train_decoder: (decoded, target) for the discriminator update


def subsample_window(pair: WindowPair, max_frames: Optional[int], generator: torch.Generator) -> WindowPair:
    """`pair` itself when it has at most `max_frames` frames; else both references and a random sorted
    subset of its renders (with their cameras): the same window seen with wider steps between views,
    which bounds the cost of one step (the temporal layers see any length, as at inference)."""
    count = pair.inputs.shape[0]
    if max_frames is None or count <= max_frames:
        return pair
    middle = (torch.randperm(count - 2, generator=generator)[:max_frames - 2] + 1).sort().values.tolist()
    keep = [0, *middle, count - 1]
    cameras = None if pair.cameras is None else [pair.cameras[i] for i in keep]
    return WindowPair(pair.name, pair.inputs[keep], pair.targets[keep], cameras)


def _prepare(pair: WindowPair, multiple: int, max_pixels: int, device) -> tuple[Tensor, Tensor]:
    return (to_model_size(pair.inputs, multiple, max_pixels).to(device),
            to_model_size(pair.targets, multiple, max_pixels).to(device))


def enhancer_loss(
    pipe: EnhancerPipeline, inputs: Tensor, targets: Tensor, cfg: EnhancerTrainConfig, generator: torch.Generator,
    cameras=None,  # the window's cameras (one per frame) for pose conditioning; None = no pose term
) -> Tensor:  # inputs/targets [F, 3, H, W] in [0, 1], model size -> scalar
    """SVD's EDM denoising loss with 3DGS-Enhancer's per-frame (CLIP, latent, pose) conditioning on one
    window. Conditioning dropout drops CLIP and latents, never the poses (as the release)."""
    dev = inputs.device
    rand = lambda *shape: torch.randn(*shape, generator=generator).to(dev)  # noqa: E731
    with torch.no_grad():
        emb = encode_frames_clip(pipe.image_encoder, pipe.feature_extractor, inputs)
        aug = inputs * 2 - 1 + cfg.noise_aug_strength * rand(inputs.shape)
        cond = pipe.decoder.encode(aug)[0]
        target = pipe.decoder.encode(targets * 2 - 1)[0] * pipe.decoder.scaling_factor
    if torch.rand((), generator=generator) < cfg.conditioning_dropout:
        emb, cond = torch.zeros_like(emb), torch.zeros_like(cond)
    sigma = torch.exp(torch.randn((), generator=generator) * cfg.p_std + cfg.p_mean).to(dev)
    noisy = target + sigma * rand(target.shape)
    c_in, c_skip, c_out = 1 / (sigma**2 + 1).sqrt(), 1 / (sigma**2 + 1), -sigma / (sigma**2 + 1).sqrt()
    model_in = torch.cat([c_in * noisy, cond], dim=1)[None]
    ids = added_time_ids(pipe.unet, cfg.fps, cfg.motion_bucket_id, cfg.noise_aug_strength, 1).to(dev)
    offset = None
    if cameras is not None:
        values = time_id_values(cfg.fps, cfg.motion_bucket_id, cfg.noise_aug_strength)
        offset = pipe.pose_embedding(pose_vectors(cameras, values)[None].to(dev))
    pred = run_unet(pipe.unet, model_in, 0.25 * sigma.log(), emb[None], ids, offset)[0]
    denoised = pred.float() * c_out + c_skip * noisy
    return ((1 + sigma**2) / sigma**2 * (denoised - target) ** 2).mean()


def train_enhancer(
    cfg: EnhancerTrainConfig,
    *,
    pipe: Optional[EnhancerPipeline] = None,  # already-loaded components (tests); None = load cfg.base
    progress: Optional[ProgressFn] = None,
    cancel: Optional[CancelFn] = None,
) -> TrainResult:
    """Train the UNet's temporal layers (or all, `cfg.layers`) and the pose embedding; writes checkpoints
    and `<output_dir>/unet` (with `unet/pose_embedding/`)."""
    device = resolve_device(cfg.device)
    data = load_dataset(cfg.dataset)
    pipe = pipe or load_enhancer(EnhancerSources(base=ModelSource(cfg.base)), device=device, precision="float32",
                                 progress=sub_progress(progress, 0.0, 0.05))
    for module in (pipe.unet, pipe.decoder, pipe.image_encoder, pipe.pose_embedding):
        module.to(device).requires_grad_(False)
    trainable = enhancer_trainable_parameters(pipe, cfg.layers)
    for p in trainable.values():
        p.requires_grad_(True)
    modules = {"unet": pipe.unet, "pose_embedding": pipe.pose_embedding}
    optimizer = torch.optim.AdamW(list(trainable.values()), lr=cfg.learning_rate)
    start = _resume(cfg, modules, {"optimizer": optimizer}, trainable_only=True)
    pipe.unet.train()
    pipe.pose_embedding.train()

    def step_loss(pair: WindowPair, gen: torch.Generator, state: StepState) -> Tensor:
        inputs, targets = _prepare(pair, pipe.size_multiple, cfg.max_pixels, device)
        with _autocast(device, cfg.mixed_precision):
            return enhancer_loss(pipe, inputs, targets, cfg, gen, pair.cameras)

    result = _loop(cfg, data, start, step_loss, [optimizer], list(trainable.values()), modules,
                   {"optimizer": optimizer}, progress, cancel, trainable_only=True)
    for module in (pipe.unet, pipe.pose_embedding):
        module.eval().requires_grad_(False)
    out = Path(cfg.output_dir) / "unet"
    pipe.unet.save_pretrained(out, safe_serialization=True)
    save_pose_embedding(pipe.pose_embedding, out)
    result.output = out
    return result


def train_decoder(
    cfg: DecoderTrainConfig,
    *,
    pipe: Optional[EnhancerPipeline] = None,
    progress: Optional[ProgressFn] = None,
    cancel: Optional[CancelFn] = None,
) -> TrainResult:
    """Train the spatial-temporal decoder (temporal decoder + CFW); writes `<output_dir>/decoder`."""
    device = resolve_device(cfg.device)
    data = load_dataset(cfg.dataset)
    sources = EnhancerSources(base=ModelSource(cfg.base), decoder=ModelSource(cfg.decoder) if cfg.decoder else None)
    pipe = pipe or load_enhancer(sources, device=device, precision="float32",
                                 progress=sub_progress(progress, 0.0, 0.05))
    decoder = pipe.decoder.to(device).requires_grad_(False)
    params = list(decoder.vae.decoder.parameters()) + list(decoder.cfw.parameters())
    for p in params:
        p.requires_grad_(True)
    disc = PatchDiscriminator().to(device)
    opt_g = torch.optim.AdamW(params, lr=cfg.learning_rate)
    opt_d = torch.optim.AdamW(disc.parameters(), lr=cfg.learning_rate)
    modules = {"decoder": decoder, "discriminator": disc}
    optimizers = {"optimizer": opt_g, "disc_optimizer": opt_d}
    start = _resume(cfg, modules, optimizers, trainable_only=False)
    decoder.train()

    def step_loss(pair: WindowPair, gen: torch.Generator, state: StepState) -> Tensor:
        inputs, targets = _prepare(pair, pipe.size_multiple, cfg.max_pixels, device)
        with _autocast(device, cfg.mixed_precision):
            out, target = _decode_for_training(decoder, inputs, targets, cfg, gen)
            loss = cfg.l1_weight * (out - target).abs().mean()
            loss = loss + cfg.perceptual_weight * perceptual_loss(decoder.vae.encoder, out, target)
            if _adversarial_on(cfg, state):
                loss = loss + cfg.adversarial_weight * generator_hinge_loss(disc(out))
        state.last = (out.detach(), target)
        return loss

    def disc_update(state: StepState) -> None:
        if not _adversarial_on(cfg, state):
            return
        out, target = state.last
        with _autocast(device, cfg.mixed_precision):
            d_loss = discriminator_hinge_loss(disc(target), disc(out))
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()

    result = _loop(cfg, data, start, step_loss, [opt_g], params, modules, optimizers, progress, cancel,
                   trainable_only=False, after_step=disc_update)
    decoder.eval().requires_grad_(False)
    decoder.save_pretrained(Path(cfg.output_dir) / "decoder", safe_serialization=True)
    result.output = Path(cfg.output_dir) / "decoder"
    return result


def _adversarial_on(cfg: DecoderTrainConfig, state: StepState) -> bool:
    return cfg.adversarial_weight > 0 and state.step >= cfg.disc_start


def _decode_for_training(decoder, inputs, targets, cfg: DecoderTrainConfig, gen) -> tuple[Tensor, Tensor]:
    target = targets * 2 - 1
    with torch.no_grad():
        latents = decoder.encode(target)[0]
        latents = latents + cfg.latent_noise * torch.randn(latents.shape, generator=gen).to(latents.device)
        _, features = decoder.encode(inputs * 2 - 1)
    out = decoder.decode(latents, features, num_frames=inputs.shape[0], fusion_weight=cfg.fusion_weight)
    return out.float(), target


def _loop(cfg, data, start, step_loss, optimizers, params, modules, opt_states, progress, cancel, *,
          trainable_only: bool, after_step=None) -> TrainResult:
    """The shared optimisation loop: data order, clipping, progress, cancel, checkpoints.
    `step_loss(pair, generator, state)` and `after_step(state)` share one explicit StepState."""
    rng = random.Random(cfg.seed)
    order = [i for _ in range(cfg.steps // len(data) + 1) for i in rng.sample(range(len(data)), len(data))]
    gen = torch.Generator().manual_seed(cfg.seed + 1)
    losses = []
    state = StepState()
    for step in range(start, cfg.steps):
        check_cancel(cancel)
        state.step = step
        loss = step_loss(subsample_window(data[order[step]], cfg.max_frames, gen), gen, state)
        if not torch.isfinite(loss):
            raise InputError(f"The training loss became {loss.item()} at step {step}; lower the learning rate.")
        for opt in optimizers:
            opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        for opt in optimizers:
            opt.step()
        if after_step is not None:
            after_step(state)
        losses.append(float(loss.detach()))
        report(progress, 0.05 + 0.95 * (step + 1) / cfg.steps, f"Step {step + 1}/{cfg.steps}, loss {losses[-1]:.4f}")
        if (step + 1) % cfg.checkpoint_every == 0 or step + 1 == cfg.steps:
            save_checkpoint(Path(cfg.output_dir), step + 1, modules, opt_states, cfg, trainable_only)
    return TrainResult(output=Path(cfg.output_dir), losses=losses, step=max(start, cfg.steps))


def _state(module, trainable_only: bool) -> dict[str, Tensor]:
    if trainable_only:
        return {n: p.detach().contiguous() for n, p in module.named_parameters() if p.requires_grad}
    return {n: t.detach().contiguous() for n, t in module.state_dict().items()}


def save_checkpoint(out: Path, step: int, modules: dict, optimizers: dict, cfg, trainable_only: bool) -> Path:
    """`checkpoint-NNNNNN/`: <module>.safetensors per module, optimizer states, state.json (written last)."""
    from safetensors.torch import save_file

    folder = out / f"checkpoint-{step:06d}"
    folder.mkdir(parents=True, exist_ok=True)
    for name, module in modules.items():
        save_file(_state(module, trainable_only), str(folder / f"{name}.safetensors"))
    torch.save({k: o.state_dict() for k, o in optimizers.items()}, folder / "optimizer.pt")
    (folder / "state.json").write_text(json.dumps({"step": step, "config": asdict(cfg)}, indent=1))
    return folder


def latest_checkpoint(out: Path) -> Optional[Path]:
    done = [p for p in out.glob("checkpoint-*") if (p / "state.json").exists()]
    return max(done, key=lambda p: int(p.name.split("-")[1])) if done else None


def _resume(cfg, modules: dict, optimizers: dict, trainable_only: bool) -> int:
    """Load the newest complete checkpoint (when cfg.resume) and return its step; 0 otherwise."""
    from safetensors.torch import load_file

    folder = latest_checkpoint(Path(cfg.output_dir)) if cfg.resume else None
    if folder is None:
        return 0
    for name, module in modules.items():
        module.load_state_dict(load_file(str(folder / f"{name}.safetensors")), strict=not trainable_only)
    states = torch.load(folder / "optimizer.pt", map_location="cpu", weights_only=True)
    for key, opt in optimizers.items():
        opt.load_state_dict(states[key])
    return int(json.loads((folder / "state.json").read_text())["step"])
