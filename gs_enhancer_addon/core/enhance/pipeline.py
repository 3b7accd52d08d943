"""EnhancerPipeline: restore a window of rendered views as a video interpolation between two
reference views (3DGS-Enhancer, Liu et al., NeurIPS 2024), on Stable Video Diffusion components.

Input  window [T+2, 3, H, W] in [0, 1]: frame 0 and frame T+1 are the reference views, the middle
       frames are renders. Output: the same shape, references returned unchanged.
Steps  (1) size rule (sizing.py); (2) per-frame CLIP embeddings -> cross-attention (conditioning.py);
       (3) per-frame VAE latents of the noise-augmented window, concatenated channel-wise with the
       noisy latents (SVD convention: unscaled latent mode); (4) Euler sampling with classifier-free
       guidance (unconditional = zero embeddings and zero latents, as SVD), a per-frame guidance ramp,
       SVD's added time ids; the reference frames' latents are replaced after every step by their
       clean latents noised to the current sigma, so they stay the clean anchors; (5) chunked
       decoding by the spatial-temporal decoder with the renders' encoder features (CFW);
       (6) colour correction to reference a; (7) references pasted back exactly.
       With the window's cameras, every frame is also conditioned on its pose relative to frame 0
       (pose.py: a zero-initialised embedding, so untrained it changes nothing).
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional, Sequence

import numpy as np
import torch
from torch import Tensor

from ..cameras import Camera
from ..errors import InputError
from ..progress import CancelFn, ProgressFn, check_cancel, report
from ..torchvision_compat import ensure_torchvision_importable
from .color import color_correct_window
from .conditioning import added_time_ids, encode_frames_clip, guidance_scales, run_unet, time_id_values
from .config import EnhancerConfig
from .pose import PoseEmbedding, pose_vectors, save_pose_embedding
from .sizing import from_model_size, size_multiple, to_model_size

ensure_torchvision_importable()

from diffusers import DiffusionPipeline, EulerDiscreteScheduler, UNetSpatioTemporalConditionModel  # noqa: E402
from transformers import CLIPImageProcessor, CLIPVisionModelWithProjection  # noqa: E402

from .decoder import SpatialTemporalDecoder  # noqa: E402



def check_window(window) -> Tensor:  # -> [F, 3, H, W] float32
    """Validate a window (tensor, array or list of [3, H, W] frames); raise InputError with what is wrong."""
    if isinstance(window, (list, tuple)):
        shapes = {tuple(np.shape(frame)) for frame in window}
        if len(shapes) > 1:
            raise InputError(f"All frames of a window must have the same size; got {sorted(shapes)}.")
        window = torch.stack([torch.as_tensor(np.asarray(f) if not torch.is_tensor(f) else f) for f in window])
    if isinstance(window, np.ndarray):
        window = torch.from_numpy(np.ascontiguousarray(window))
    if not torch.is_tensor(window):
        raise InputError(f"A window must be an image tensor [frames, 3, H, W], not {type(window).__name__}.")
    if window.ndim != 4 or window.shape[1] != 3:
        raise InputError(f"A window must be RGB frames shaped [frames, 3, H, W]; got {list(window.shape)}.")
    if window.shape[0] < 3:
        raise InputError(
            f"A window needs two reference views and at least one render (3+ frames); got {window.shape[0]}."
        )
    if min(window.shape[-2:]) < 8:
        raise InputError(f"Frames of {window.shape[-1]}x{window.shape[-2]} pixels are too small to enhance.")
    window = window.float()
    if not torch.isfinite(window).all():
        raise InputError("The window contains NaN or infinite pixel values (a broken render?).")
    if window.min() < -1e-3 or window.max() > 1 + 1e-3:
        raise InputError("Pixel values must lie in [0, 1].")
    return window.clamp(0.0, 1.0)


class EnhancerPipeline(DiffusionPipeline):
    """3DGS-Enhancer's video-diffusion restoration on real diffusers/transformers components."""

    model_cpu_offload_seq = "image_encoder->unet->decoder"

    def __init__(
        self,
        unet: UNetSpatioTemporalConditionModel,
        decoder: SpatialTemporalDecoder,
        image_encoder: CLIPVisionModelWithProjection,
        feature_extractor: CLIPImageProcessor,
        scheduler: EulerDiscreteScheduler,
        pose_embedding: Optional[PoseEmbedding] = None,  # None: zero-initialised (exactly stock SVD)
    ):
        super().__init__()
        self.register_modules(
            unet=unet, decoder=decoder, image_encoder=image_encoder,
            feature_extractor=feature_extractor, scheduler=scheduler,
        )
        # Not a pipeline component of its own: it is stored inside the UNet folder (pose.py).
        self.pose_embedding = pose_embedding if pose_embedding is not None else PoseEmbedding.for_unet(unet)

    @property
    def vae_scale_factor(self) -> int:
        return 2 ** (len(self.decoder.vae.config.block_out_channels) - 1)

    @property
    def size_multiple(self) -> int:
        """Pixel multiple of every processed size (SVD: 64); see sizing.py for the rule."""
        return size_multiple(self.vae_scale_factor, len(self.unet.config.down_block_types))

    def save_pretrained(self, save_directory, **kwargs) -> None:
        """Each component in its own subfolder (diffusers layout, safetensors), plus model_index.json."""
        super().save_pretrained(save_directory, safe_serialization=True, **kwargs)
        save_pose_embedding(self.pose_embedding, Path(save_directory) / "unet")

    @contextmanager
    def _placed(self, module, device: torch.device, offload: bool) -> Iterator[None]:
        """Model offload: move `module` to `device` only while it is used."""
        if offload:
            module.to(device)
        try:
            yield
        finally:
            if offload:
                module.to("cpu")
                if device.type == "cuda":
                    torch.cuda.empty_cache()

    @torch.no_grad()
    def __call__(
        self,
        window,  # [T+2, 3, H, W] in [0, 1] (tensor, array or list of frames)
        config: Optional[EnhancerConfig] = None,
        *,
        device: Optional[str | torch.device] = None,  # compute device; None = where the UNet is
        progress: Optional[ProgressFn] = None,
        cancel: Optional[CancelFn] = None,
        cameras: Optional[Sequence[Camera]] = None,  # the window's cameras, one per frame: pose conditioning
    ) -> Tensor:  # [T+2, 3, H, W] float32 in [0, 1], on the CPU
        config = config or EnhancerConfig()
        frames = check_window(window)
        cameras = cameras if config.pose_conditioning else None
        if cameras is not None and len(cameras) != frames.shape[0]:
            raise InputError(f"Pose conditioning needs one camera per frame: {len(cameras)} cameras, "
                             f"{frames.shape[0]} frames.")
        device = torch.device(device) if device is not None else self.unet.device
        offload = config.offload == "model" and device.type != "cpu"
        _set_forward_chunking(self.unet, config.forward_chunking)  # per call: a cached pipeline keeps no old choice
        height, width = frames.shape[-2:]
        x = to_model_size(frames, self.size_multiple, config.max_pixels)
        generator = torch.Generator("cpu").manual_seed(config.seed)
        report(progress, 0.0, "Encoding views")
        embeddings, cond_latents, ref_latents = self._encode_window(x, config, device, offload, generator)
        check_cancel(cancel)
        latents = self._denoise(embeddings, cond_latents, ref_latents, config, device, offload, generator,
                                progress, cancel, cameras)
        report(progress, 0.95, "Decoding")
        decoded = self._decode(latents, x, config, device, offload, cancel)
        decoded = from_model_size(decoded.float().cpu(), height, width, config.max_pixels).clamp(0.0, 1.0)
        if config.color_correction:
            decoded = color_correct_window(decoded, frames[0])
        decoded[0], decoded[-1] = frames[0], frames[-1]
        report(progress, 1.0, "Enhanced")
        return decoded

    def _encode_window(self, x, config, device, offload, generator) -> tuple[Tensor, Tensor, Tensor]:
        """Per-frame CLIP embeddings [1, F, 1, D], conditioning latents [1, F, C, h, w] (noise-augmented,
        unscaled mode, as SVD) and the references' clean scaled latents [2, C, h, w]."""
        with self._placed(self.image_encoder, device, offload):
            embeddings = encode_frames_clip(self.image_encoder, self.feature_extractor, x.to(device))  # [F, 1, D]
        if not config.per_frame_clip:
            embeddings = embeddings[:1].expand_as(embeddings)  # SVD: the first frame's embedding for all
        pixels = x * 2.0 - 1.0
        noisy = pixels + config.noise_aug_strength * torch.randn(pixels.shape, generator=generator)
        with self._placed(self.decoder, device, offload):
            cond = torch.cat([
                self.decoder.encode(noisy[i:i + config.decode_chunk_size].to(device))[0]
                for i in range(0, len(noisy), config.decode_chunk_size)
            ])
            refs = self.decoder.encode(pixels[[0, -1]].to(device))[0] * self.decoder.scaling_factor
        return embeddings[None], cond[None], refs.float()

    def _pose_offset(self, cameras, config, device, dtype) -> Optional[Tensor]:  # [F, D_t] or None
        """The pose embedding of every frame (pose.py); None without cameras."""
        if cameras is None:
            return None
        vectors = pose_vectors(cameras, time_id_values(config.fps, config.motion_bucket_id, config.noise_aug_strength))
        self.pose_embedding.to(device=device, dtype=dtype)
        return self.pose_embedding(vectors[None].to(device))

    def _denoise(self, embeddings, cond_latents, ref_latents, config, device, offload, generator,
                 progress, cancel, cameras=None) -> Tensor:  # -> [1, F, C, h, w] scaled latents
        num_frames = cond_latents.shape[1]
        dtype = self.unet.dtype
        do_cfg = config.max_guidance_scale > 1.0
        time_ids = added_time_ids(self.unet, config.fps, config.motion_bucket_id, config.noise_aug_strength, 1)
        scales = guidance_scales(num_frames, config.min_guidance_scale, config.max_guidance_scale,
                                 config.guidance_ramp).view(1, num_frames, 1, 1, 1).to(device)
        self.scheduler.set_timesteps(config.num_inference_steps, device=device)
        shape = (1, num_frames, self.unet.config.out_channels, *cond_latents.shape[-2:])
        latents = (torch.randn(shape, generator=generator) * self.scheduler.init_noise_sigma).to(device)
        ref_noise = torch.randn((2, *shape[2:]), generator=generator).to(device)
        latents[0, [0, -1]] = ref_latents + self.scheduler.sigmas[0].to(device) * ref_noise
        passes = [(embeddings, cond_latents)]
        if do_cfg:
            passes.insert(0, (torch.zeros_like(embeddings), torch.zeros_like(cond_latents)))
        timesteps = self.scheduler.timesteps
        with self._placed(self.unet, device, offload):
            offset = self._pose_offset(cameras, config, device, dtype)
            for i, t in enumerate(timesteps):
                check_cancel(cancel)
                scaled = self.scheduler.scale_model_input(latents, t)
                preds = self._unet_passes(scaled, t, passes, time_ids.to(device), config.cfg_mode, dtype, cancel,
                                          offset)
                noise_pred = preds[0] + scales * (preds[1] - preds[0]) if do_cfg else preds[0]
                latents = self.scheduler.step(noise_pred, t, latents).prev_sample.float()
                sigma = self.scheduler.sigmas[i + 1].to(device)
                latents[0, [0, -1]] = ref_latents + sigma * ref_noise
                report(progress, 0.05 + 0.9 * (i + 1) / len(timesteps), f"Step {i + 1}/{len(timesteps)}")
        return latents

    def _unet_passes(self, scaled, t, passes, time_ids, cfg_mode, dtype, cancel, offset=None) -> list[Tensor]:
        """Noise predictions for the (unconditional, conditional) passes, batched or one after another.
        Both passes see the poses (`offset` [F, D_t]): the model is trained with them never dropped."""
        inputs = [(torch.cat([scaled, cond], dim=2).to(dtype), emb.to(dtype)) for emb, cond in passes]
        if cfg_mode == "batched" or len(inputs) == 1:
            model_in = torch.cat([m for m, _ in inputs])
            emb = torch.cat([e for _, e in inputs])
            offsets = None if offset is None else offset.repeat(len(inputs), 1)
            out = run_unet(self.unet, model_in, t, emb, time_ids.repeat(len(inputs), 1).to(dtype), offsets)
            return [o[None].float() for o in out]
        outputs = []
        for model_in, emb in inputs:
            check_cancel(cancel)
            outputs.append(run_unet(self.unet, model_in, t, emb, time_ids.to(dtype), offset).float())
        return outputs

    def _decode(self, latents, x, config, device, offload, cancel) -> Tensor:  # -> [F, 3, H', W'] in [0, 1]
        """Chunked spatial-temporal decoding; each chunk re-encodes its renders for the CFW features
        (bounded memory: full-resolution encoder features of a whole window would not fit 12 GB).
        When CFW cannot change the result (weight 0, or untrained zero blocks), the base decoder
        runs alone: same frames, without the window's second encode and the CFW convolutions."""
        latents = latents[0] / self.decoder.scaling_factor
        chunk = config.decode_chunk_size
        fuse = not self.decoder.fusion_is_identity(config.fusion_weight)
        out = []
        with self._placed(self.decoder, device, offload):
            for i in range(0, latents.shape[0], chunk):
                check_cancel(cancel)
                features = self.decoder.encode((x[i:i + chunk] * 2.0 - 1.0).to(device))[1] if fuse else None
                part = self.decoder.decode(latents[i:i + chunk], features, latents[i:i + chunk].shape[0],
                                           config.fusion_weight)
                out.append(((part.float() + 1.0) / 2.0).cpu())
        return torch.cat(out)


def _set_forward_chunking(unet, enabled: bool) -> None:
    """Feed-forward chunking over the sequence (dim 1) on, or off; diffusers' SVD UNet can only
    enable it, so set the blocks directly (chunk size None = off)."""
    for module in unet.modules():
        if hasattr(module, "set_chunk_feed_forward"):
            module.set_chunk_feed_forward(chunk_size=1 if enabled else None, dim=1)
