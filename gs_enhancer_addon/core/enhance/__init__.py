"""Video-diffusion enhancement of rendered views (3DGS-Enhancer, Liu et al., NeurIPS 2024).

A window of frames `[ref_a, render_1 .. render_T, ref_b]` is restored as a video interpolation
between two reference views with a Stable Video Diffusion UNet (per-frame CLIP conditioning,
per-frame VAE latents concatenated with the noisy latents), decoded by a spatial-temporal decoder
(the temporal VAE decoder plus StableSR's Controllable Feature Warping) and colour-corrected to
the first reference.

Modules: config (hyperparameters), pipeline (EnhancerPipeline), decoder (SpatialTemporalDecoder),
conditioning, color, sizing, components (tiny builder, loader), data + losses + training (fine-tuning),
cli (argparse training commands). Submodules import torch/diffusers; this package file does not.
"""

from .config import EnhancerConfig

__all__ = ["EnhancerConfig"]
