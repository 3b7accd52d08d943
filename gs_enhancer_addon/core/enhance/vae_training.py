"""Training the temporal VAE (diffusers AutoencoderKLTemporalDecoder: encoder + temporal decoder) as an
autoencoder, from scratch, on a dataset's frames: the first model of a small enhancer set trained on
one's own data (issue 20), so that the UNet trained next (`train-enhancer --layers all`) works in a
latent space that fits these images.

The model is a KL-regularised autoencoder (Kingma & Welling, "Auto-Encoding Variational Bayes",
ICLR 2014; as the first stage of latent diffusion, Rombach et al., "High-Resolution Image Synthesis
with Latent Diffusion Models", CVPR 2022, Sec. 3.1 / App. G). Each step reconstructs one window's
input frames and target frames (two videos; the temporal decoder mixes frames within each), decoding
a posterior sample (the reparameterisation trick), with the loss

    l1_weight * |x - x_hat|  +  perceptual_weight * P(x_hat, x)  +  kl_weight * KL(q(z|x) || N(0, I))

* L1: mean over pixels.
* P: the LPIPS-style distance of losses.py on a FROZEN copy of the encoder taken before training
  (the encoder being trained must not be the feature network: it could then shrink the term by
  changing its own features). Trained from scratch, that copy is randomly initialised: its features
  measure local structure, but less well than a trained network's. Started from a base folder's
  weights (`from_base_weights`), it is the base's trained encoder.
* KL: summed over a frame's latent, averaged over frames, with LDM's small weight (1e-6 for its
  KL-f8 models): the latent is kept near a unit Gaussian scale without limiting reconstruction.
  LDM's adversarial term is left out (train-decoder adds one for the decoder later).

After the last step the latent scale is measured as LDM does (App. G: "rescale the latents by ...
the component-wise standard deviation"): `scaling_factor` = 1 / std of the latents (posterior modes)
of every dataset frame, stored in the saved config, which the UNet training and the pipeline use.

Starts from a VAE config: `<base>/vae/config.json` (or `<base>/config.json` when `base` is a VAE
folder itself; a hub repo id is resolved through core/models.py), or, with no base, the tiny enhancer's
VAE (components.dummy_components), with freshly initialised weights (seeded), or the base's weights.
Checkpoints, resume, progress and cancel are train_enhancer's (training.py). The result,
`<output_dir>/vae/` (config.json + diffusion_pytorch_model.safetensors), is a diffusers
AutoencoderKLTemporalDecoder folder: put it as `vae/` of a base folder (without a `decoder/` there)
and `load_enhancer` builds the spatial-temporal decoder from it. It is written under a temporary
name and renamed when complete, so a failed or cancelled run leaves no half-written `vae/`.
"""

from __future__ import annotations

import copy
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch
from torch import Tensor

from ..devices import resolve_device
from ..errors import InputError
from ..models import DEFAULT_ENHANCER_REPO, ModelFiles, ModelSource, quiet_loading, resolve_model
from ..progress import CancelFn, ProgressFn, report
from ..torchvision_compat import ensure_torchvision_importable
from .data import WindowPair, load_dataset
from .losses import perceptual_loss
from .training import StepState, TrainCommon, TrainResult, _autocast, _loop, _prepare, _resume

ensure_torchvision_importable()

from diffusers import AutoencoderKLTemporalDecoder  # noqa: E402

VAE_FOLDER = "vae"


@dataclass
class VaeTrainConfig(TrainCommon):
    base: Optional[str] = None  # folder with vae/config.json, a VAE folder, or a hub repo id; None = tiny VAE
    from_base_weights: bool = False  # False: fresh weights (from scratch); True: start from the base's VAE
    learning_rate: float = 1e-4  # AdamW (LDM's autoencoders: 4.5e-6 x batch size; ours is one window)
    l1_weight: float = 1.0  # pixel L1
    perceptual_weight: float = 1.0  # LPIPS-style term on the frozen encoder copy (losses.py)
    kl_weight: float = 1e-6  # KL to N(0, I), summed per frame (LDM KL-f8)


def _vae_config_source(cfg: VaeTrainConfig) -> tuple[Optional[Path], Optional[str]]:
    """(VAE folder, weights file name) of cfg.base; (None, None) for the tiny VAE."""
    if cfg.base is None:
        return None, None
    source = ModelSource(cfg.base)
    local = source.local_path
    if local is not None:
        if not local.exists():
            raise InputError(f"The base folder {local} does not exist.")
        folder = local if (local / "config.json").is_file() and not (local / VAE_FOLDER).is_dir() else local / VAE_FOLDER
        if not (folder / "config.json").is_file():
            raise InputError(f"No VAE config in {local}: expected {local / VAE_FOLDER / 'config.json'}.")
        return folder, "diffusion_pytorch_model.safetensors"
    # a hub repo (e.g. SVD): only vae/config.json, plus the fp16 weights when they are used
    weights = "diffusion_pytorch_model.fp16.safetensors"
    files = (f"{VAE_FOLDER}/config.json",) + ((f"{VAE_FOLDER}/{weights}",) if cfg.from_base_weights else ())
    root = resolve_model(source, ModelFiles("the base VAE", files, gated=source.repo_id == DEFAULT_ENHANCER_REPO))
    return root / VAE_FOLDER, weights


def build_vae(cfg: VaeTrainConfig) -> AutoencoderKLTemporalDecoder:
    """The VAE to train, float32: cfg.base's (or the tiny) config with seeded fresh weights, or the
    base's weights when `cfg.from_base_weights`."""
    folder, weights = _vae_config_source(cfg)
    if folder is not None and cfg.from_base_weights:
        if not (folder / weights).is_file():
            raise InputError(f"No VAE weights in {folder} ({weights}).")
        variant = "fp16" if ".fp16." in weights else None
        with quiet_loading():
            return AutoencoderKLTemporalDecoder.from_pretrained(folder, use_safetensors=True, variant=variant,
                                                                torch_dtype=torch.float32)
    if folder is not None:
        config = json.loads((folder / "config.json").read_text())
    else:
        from .components import dummy_components

        with torch.random.fork_rng():
            config = dict(dummy_components()["decoder"].vae.config)
    with torch.random.fork_rng():
        torch.manual_seed(cfg.seed)
        with quiet_loading():
            return AutoencoderKLTemporalDecoder.from_config(config).float()


def vae_loss(
    vae: AutoencoderKLTemporalDecoder,
    feature_encoder,  # frozen diffusers Encoder for the perceptual term
    frames: Tensor,  # [B * F, 3, H, W] in [0, 1]: B videos of F frames each
    num_frames: int,  # F
    cfg: VaeTrainConfig,
    generator: torch.Generator,  # the posterior sample's noise
) -> tuple[Tensor, Tensor]:  # (loss, reconstruction [B * F, 3, H, W] in about [-1, 1])
    """L1 + perceptual + KL on one batch of videos (module doc)."""
    x = frames * 2 - 1
    posterior = vae.encode(x).latent_dist
    recon = vae.decode(posterior.sample(generator), num_frames=num_frames).sample.float()
    loss = cfg.l1_weight * (recon - x).abs().mean()
    if cfg.perceptual_weight:
        loss = loss + cfg.perceptual_weight * perceptual_loss(feature_encoder, recon, x)
    return loss + cfg.kl_weight * posterior.kl().mean(), recon


def reconstruct(vae: AutoencoderKLTemporalDecoder, frames: Tensor) -> Tensor:
    """Deterministic reconstruction of one video [F, 3, H, W] in [0, 1] (posterior mode), in [-1, 1]."""
    with torch.no_grad():
        latents = vae.encode(frames * 2 - 1).latent_dist.mode()
        return vae.decode(latents, num_frames=frames.shape[0]).sample


def vae_scale_factor(vae: AutoencoderKLTemporalDecoder) -> int:
    """The VAE's down-sampling factor (8 for SVD's): frames are padded to a multiple of it."""
    return 2 ** (len(vae.config.block_out_channels) - 1)


def latent_scaling_factor(vae: AutoencoderKLTemporalDecoder, data: list[WindowPair], max_pixels: int,
                          device: torch.device) -> float:
    """1 / std of the latents (posterior modes) of every dataset frame (LDM App. G)."""
    total, squares, count = 0.0, 0.0, 0
    with torch.no_grad():
        for pair in data:
            for frames in _prepare(pair, vae_scale_factor(vae), max_pixels, device):
                z = vae.encode(frames * 2 - 1).latent_dist.mode().double()
                total, squares, count = total + float(z.sum()), squares + float((z * z).sum()), count + z.numel()
    mean = total / count
    std = (squares / count - mean * mean) ** 0.5
    if not std > 0:
        raise InputError("The trained VAE maps every frame to the same latent; train longer or check the data.")
    return 1.0 / std


def save_vae(vae: AutoencoderKLTemporalDecoder, out: Path) -> Path:
    """Write the diffusers folder under a temporary name, then rename it to `out` (replacing an old one)."""
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    vae.save_pretrained(tmp, safe_serialization=True)
    if out.exists():
        shutil.rmtree(out)
    tmp.replace(out)
    return out


def train_vae(
    cfg: VaeTrainConfig,
    *,
    vae: Optional[AutoencoderKLTemporalDecoder] = None,  # an already-built VAE (tests); None = build_vae(cfg)
    progress: Optional[ProgressFn] = None,
    cancel: Optional[CancelFn] = None,
) -> TrainResult:
    """Train the VAE as an autoencoder on every window's input and target frames; writes checkpoints and
    `<output_dir>/vae` (module doc)."""
    device = resolve_device(cfg.device)
    data = load_dataset(cfg.dataset)
    report(progress, 0.0, "Building the VAE")
    vae = (vae or build_vae(cfg)).to(device)
    feature_net = copy.deepcopy(vae.encoder).requires_grad_(False).eval()  # the frozen perceptual network
    vae.requires_grad_(True)
    params = list(vae.parameters())
    optimizer = torch.optim.AdamW(params, lr=cfg.learning_rate)
    # the feature network is checkpointed too: a resumed run keeps the one it started with
    modules = {"vae": vae, "feature_net": feature_net}
    start = _resume(cfg, modules, {"optimizer": optimizer}, trainable_only=False)
    vae.train()

    def step_loss(pair: WindowPair, gen: torch.Generator, state: StepState) -> Tensor:
        inputs, targets = _prepare(pair, vae_scale_factor(vae), cfg.max_pixels, device)
        with _autocast(device, cfg.mixed_precision):
            return vae_loss(vae, feature_net, torch.cat([inputs, targets]), inputs.shape[0], cfg, gen)[0]

    result = _loop(cfg, data, start, step_loss, [optimizer], params, modules, {"optimizer": optimizer},
                   progress, cancel, trainable_only=False)
    vae.eval().requires_grad_(False)
    vae.register_to_config(scaling_factor=latent_scaling_factor(vae, data, cfg.max_pixels, device))
    result.output = save_vae(vae, Path(cfg.output_dir) / VAE_FOLDER)
    report(progress, 1.0, f"VAE saved to {result.output}")
    return result
