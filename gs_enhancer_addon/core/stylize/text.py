"""Prompt engineering for CLIP text embeddings (CLIPstyler, Kwon & Ye, CVPR 2022).

CLIPstyler embeds each text through the ImageNet prompt templates of CLIP (Radford et al., 2021),
averages the raw text features over the templates and normalizes the mean; the style direction is
then `normalize(E_T(t_sty) - E_T(t_src))` with t_src = "a Photo".
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .clip_model import ClipModel

# The 79 templates CLIPstyler's template.py uses (CLIP's ImageNet prompt list).
TEMPLATES = (
    "a bad photo of a {}.", "a sculpture of a {}.", "a photo of the hard to see {}.",
    "a low resolution photo of the {}.", "a rendering of a {}.", "graffiti of a {}.", "a bad photo of the {}.",
    "a cropped photo of the {}.", "a tattoo of a {}.", "the embroidered {}.", "a photo of a hard to see {}.",
    "a bright photo of a {}.", "a photo of a clean {}.", "a photo of a dirty {}.", "a dark photo of the {}.",
    "a drawing of a {}.", "a photo of my {}.", "the plastic {}.", "a photo of the cool {}.",
    "a close-up photo of a {}.", "a black and white photo of the {}.", "a painting of the {}.",
    "a painting of a {}.", "a pixelated photo of the {}.", "a sculpture of the {}.", "a bright photo of the {}.",
    "a cropped photo of a {}.", "a plastic {}.", "a photo of the dirty {}.", "a jpeg corrupted photo of a {}.",
    "a blurry photo of the {}.", "a photo of the {}.", "a good photo of the {}.", "a rendering of the {}.",
    "a {} in a video game.", "a photo of one {}.", "a doodle of a {}.", "a close-up photo of the {}.",
    "a photo of a {}.", "the origami {}.", "the {} in a video game.", "a sketch of a {}.", "a doodle of the {}.",
    "a origami {}.", "a low resolution photo of a {}.", "the toy {}.", "a rendition of the {}.",
    "a photo of the clean {}.", "a photo of a large {}.", "a rendition of a {}.", "a photo of a nice {}.",
    "a photo of a weird {}.", "a blurry photo of a {}.", "a cartoon {}.", "art of a {}.", "a sketch of the {}.",
    "a embroidered {}.", "a pixelated photo of a {}.", "itap of the {}.", "a jpeg corrupted photo of the {}.",
    "a good photo of a {}.", "a plushie {}.", "a photo of the nice {}.", "a photo of the small {}.",
    "a photo of the weird {}.", "the cartoon {}.", "art of the {}.", "a drawing of the {}.",
    "a photo of the large {}.", "a black and white photo of a {}.", "the plushie {}.", "a dark photo of a {}.",
    "itap of a {}.", "graffiti of the {}.", "a toy {}.", "itap of my {}.", "a photo of a cool {}.",
    "a photo of a small {}.", "a tattoo of the {}.",
)


def compose_with_templates(text: str, templates=TEMPLATES) -> list[str]:
    return [t.format(text) for t in templates]


def text_embedding(clip: ClipModel, text: str, templates=TEMPLATES) -> torch.Tensor:  # -> [D] unit length
    """Mean of the raw text features over all templates, then normalized (CLIPstyler)."""
    features = clip.encode_texts(compose_with_templates(text, templates))  # [T, D]
    return F.normalize(features.mean(dim=0), dim=-1)


def text_direction(clip: ClipModel, style: str, source: str = "a Photo", templates=TEMPLATES) -> torch.Tensor:
    """Unit direction in CLIP space from the source text to the style text.  # -> [D]"""
    return F.normalize(text_embedding(clip, style, templates) - text_embedding(clip, source, templates), dim=-1)
