"""CLIPstyler pieces with a tiny real open_clip ViT and a narrow VGG-19 (seeded, no downloads)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gs_enhancer_addon.core.errors import Cancelled, InputError, ModelNotAvailableError
from gs_enhancer_addon.core.stylize.clip_model import TINY_CLIP_CONFIG, load_clip, register_tiny_clip, save_clip_folder
from gs_enhancer_addon.core.stylize.config import ClipSpec, StyleLossConfig, StyleNetConfig, VggSpec
from gs_enhancer_addon.core.stylize.losses import (
    content_loss, directional_loss, mimic_loss, patch_clip_loss, reject_below, sample_patches, tv_loss)
from gs_enhancer_addon.core.stylize.network import StyleUNet
from gs_enhancer_addon.core.stylize.text import TEMPLATES, compose_with_templates, text_direction, text_embedding
from gs_enhancer_addon.core.stylize.trainer import StyleTrainer
from gs_enhancer_addon.core.stylize.vgg import VGG19Features, load_vgg19
from tests.builders import tiny_style_models


SMALL_LOSSES = StyleLossConfig(num_crops=6, crop_size=16)
SMALL_NET = StyleNetConfig(base_channels=4, iterations=3)


@pytest.fixture(scope="module")
def parts():
    torch.manual_seed(0)
    return tiny_style_models(seed=0)


def _unit(v):
    return F.normalize(torch.as_tensor(v, dtype=torch.float32), dim=-1)


# --- directional loss -------------------------------------------------------------------------

def test_directional_loss_is_zero_along_the_text_direction_and_grows_away_from_it():
    src = _unit([[1.0, 0.0, 0.0, 0.0]])
    along = _unit(src + 0.3 * _unit([0.0, 1.0, 0.5, 0.0]))  # a unit image embedding ...
    direction_of_move = F.normalize(along - src, dim=-1)[0]  # ... whose move defines the text direction
    assert directional_loss(along, src, direction_of_move).item() == pytest.approx(0.0, abs=1e-6)
    assert directional_loss(along, src, -direction_of_move).item() == pytest.approx(2.0, abs=1e-5)  # opposite text
    orthogonal = _unit([[1.0, 0.0, 0.0, 1.0]])  # moves within span(e0, e3), orthogonal to e1
    assert directional_loss(orthogonal, src, _unit([0.0, 1.0, 0.0, 0.0])).item() == pytest.approx(1.0, abs=1e-6)


def test_directional_loss_with_clip_texts_is_zero_when_image_embeddings_equal_the_texts(parts):
    clip, _ = parts
    style, source = text_embedding(clip, "a watercolor painting"), text_embedding(clip, "a Photo")
    direction = text_direction(clip, "a watercolor painting", "a Photo")
    loss = directional_loss(style[None], source[None], direction)
    assert loss.item() == pytest.approx(0.0, abs=1e-5)


# --- templates --------------------------------------------------------------------------------

def test_text_embedding_is_the_normalized_mean_over_all_templates(parts):
    clip, _ = parts
    assert len(TEMPLATES) == 79 and compose_with_templates("fire")[0] == "a bad photo of a fire."
    raw = clip.encode_texts(compose_with_templates("fire"))
    expected = F.normalize(raw.mean(dim=0), dim=-1)
    got = text_embedding(clip, "fire")
    assert torch.allclose(got, expected, atol=1e-6)
    single = F.normalize(raw[0], dim=-1)
    assert not torch.allclose(got, single, atol=1e-3)  # the average really differs from one template
    assert torch.allclose(text_embedding(clip, "fire", templates=("{}",)),
                          F.normalize(clip.encode_texts(["fire"])[0], dim=-1), atol=1e-6)


# --- patches and threshold rejection ------------------------------------------------------------

def test_undistorted_patches_are_exact_crops_and_distorted_ones_are_filled_with_zero():
    g = torch.Generator().manual_seed(0)
    image = torch.rand(1, 3, 12, 14) + 0.5  # strictly positive
    patches, which = sample_patches(image, 5, 6, 6, distortion=0.0, generator=g)
    assert patches.shape == (5, 3, 6, 6) and (which == 0).all()
    crops = image.unfold(2, 6, 1).unfold(3, 6, 1)  # [1, 3, 7, 9, 6, 6] every possible crop
    for p in patches:
        err = (crops[0] - p[:, None, None]).abs().amax(dim=(0, 3, 4))
        assert err.min().item() < 1e-5  # each patch is one of the crops
    warped, _ = sample_patches(image, 5, 6, 16, distortion=0.5, generator=g)
    assert warped.shape == (5, 3, 16, 16)
    assert (warped == 0).any() and (warped > 0).float().mean() > 0.5


def test_rejected_patches_get_no_gradient(parts):
    clip, _ = parts
    g = torch.Generator().manual_seed(1)
    image = torch.rand(1, 3, 24, 24, requires_grad=True)
    source = clip.encode_images(torch.rand(1, 3, 24, 24))
    direction = text_direction(clip, "fire")
    patches, which = sample_patches(image, 8, 12, clip.image_size, 0.5, g)
    patches.retain_grad()
    per_patch = directional_loss(clip.encode_images(patches), source[which], direction)
    tau = per_patch.detach().median().item()
    reject_below(per_patch, tau).backward()
    grad_norm = patches.grad.flatten(1).norm(dim=1)
    kept = per_patch.detach() >= tau
    assert 0 < kept.sum() < len(kept)
    assert torch.all(grad_norm[~kept] == 0) and torch.all(grad_norm[kept] > 0)
    assert image.grad.abs().sum() > 0


def test_patch_loss_is_zero_with_no_gradient_when_every_patch_is_below_tau(parts):
    clip, _ = parts
    image = torch.rand(1, 3, 24, 24, requires_grad=True)
    source, direction = clip.encode_images(torch.rand(1, 3, 24, 24)), text_direction(clip, "fire")
    loss = patch_clip_loss(clip, image, source, direction, count=4, crop_size=12, threshold=2.5,
                           generator=torch.Generator().manual_seed(0))
    loss.backward()
    assert loss.item() == 0.0 and image.grad.abs().sum() == 0


# --- content and tv --------------------------------------------------------------------------

def test_content_loss_zero_for_the_content_image_and_positive_otherwise(parts):
    _, vgg = parts
    content = torch.rand(1, 3, 32, 32)
    feats = vgg(content)
    assert [f.shape[-1] for f in feats] == [4, 2]  # relu4_2 at 1/8, relu5_2 at 1/16
    assert content_loss(vgg, content, feats).item() == 0.0
    assert content_loss(vgg, torch.rand(1, 3, 32, 32), feats).item() > 0.0


def test_tv_loss_matches_a_hand_computed_value():
    assert tv_loss(torch.full((1, 3, 5, 5), 0.3)).item() == 0.0
    ramp = torch.arange(4.0).view(1, 1, 1, 4).expand(1, 1, 3, 4)  # value = column index
    # horizontal: 3x3 diffs of 1; vertical: 0; both diagonals: 2x3 diffs of 1
    assert tv_loss(ramp).item() == pytest.approx(3.0 + 0.0 + 6**0.5 + 6**0.5)


# --- network and training ------------------------------------------------------------------------

@pytest.mark.parametrize("size", [(5, 7), (21, 34), (32, 32)])
def test_style_network_keeps_any_image_size_and_outputs_in_unit_range(size):
    out = StyleUNet(base_channels=4)(torch.rand(2, 3, *size))
    assert out.shape == (2, 3, *size) and out.min() > 0 and out.max() < 1


def test_trainer_lowers_the_clip_loss_and_cancel_stops_within_one_iteration(parts):
    clip, vgg = parts
    views = [torch.rand(3, 20, 28), torch.rand(3, 20, 28)]
    trainer = StyleTrainer(clip, vgg, "a watercolor painting", views, SMALL_LOSSES,
                           StyleNetConfig(base_channels=4, lr=5e-3, views_per_iteration=2))
    history = trainer.train(12)
    assert history[-1]["dir"] < history[0]["dir"]
    steps = []
    before = {k: v.clone() for k, v in trainer.net.state_dict().items()}

    with pytest.raises(Cancelled):
        trainer.train(10, progress=lambda f, m: steps.append(f), cancel=lambda: len(steps) >= 2)
    assert 2 <= len(steps) <= 3, "asked to stop after step 2: at most one more step ran"
    assert any(not torch.equal(before[k], v) for k, v in trainer.net.state_dict().items())


def test_trainers_built_with_default_configs_share_nothing(parts):
    """Each trainer gets its own default loss and network configs: changing one trainer's settings
    cannot leak into the next one (the defaults were once single shared objects)."""
    clip, vgg = parts
    first = StyleTrainer(clip, vgg, "a watercolor painting", [torch.rand(3, 32, 32)])
    first.cfg.lambda_dir, first.net_cfg.lr = 0.0, 1.0
    second = StyleTrainer(clip, vgg, "a watercolor painting", [torch.rand(3, 32, 32)])
    assert second.cfg == StyleLossConfig() and second.net_cfg == StyleNetConfig()


def test_mimic_term_is_stylizednerfs_squared_l2_loss(parts):
    """StylizedNeRF's mimic loss is a mean squared difference (its official code: img2mse), not L1."""
    clip, vgg = parts
    trainer = StyleTrainer(clip, vgg, "a watercolor painting", [torch.rand(3, 32, 32)], SMALL_LOSSES, SMALL_NET)
    output = torch.full((1, 3, 32, 32), 0.7)
    render = torch.full((1, 3, 32, 32), 0.2)  # |difference| 0.5: L1 would give 0.5, squared L2 0.25
    assert mimic_loss(output, render).item() == pytest.approx(0.25)
    terms = trainer.loss_terms(0, output, torch.Generator().manual_seed(0), render, lambda_mimic=10.0)
    assert terms["mimic"].item() == pytest.approx(2.5)
    assert terms["total"].item() == pytest.approx(sum(v.item() for k, v in terms.items() if k != "total"))


def test_empty_style_text_is_refused_by_the_trainer(parts):
    clip, vgg = parts
    with pytest.raises(InputError):
        StyleTrainer(clip, vgg, "  ", [torch.rand(3, 8, 8)], SMALL_LOSSES, SMALL_NET)


# --- loading ----------------------------------------------------------------------------------

def test_clip_round_trips_through_a_local_folder_and_a_weights_file(parts, tmp_path):
    clip, _ = parts
    folder = save_clip_folder(clip, tmp_path / "clip", TINY_CLIP_CONFIG)
    image = torch.rand(2, 3, 40, 40)
    from_folder = load_clip(ClipSpec(model_name=str(folder)))
    assert torch.allclose(from_folder.encode_images(image), clip.encode_images(image), atol=1e-5)
    from_file = load_clip(ClipSpec(model_name=register_tiny_clip(),
                                   pretrained=str(folder / "open_clip_model.safetensors")))
    assert torch.allclose(from_file.encode_texts(["a Photo"]), clip.encode_texts(["a Photo"]), atol=1e-5)
    assert not any(p.requires_grad for p in from_file.model.parameters())


def test_missing_clip_weights_raise_model_not_available(tmp_path):
    with pytest.raises(ModelNotAvailableError, match="CLIP-ViT-B-32-laion2B"):
        load_clip(ClipSpec("ViT-B-32", "laion2b_s34b_b79k"), offline=True)
    with pytest.raises(ModelNotAvailableError, match="laion2b_s34b_b79k"):  # lists usable tags
        load_clip(ClipSpec("ViT-B-32", "no-such-tag"), offline=True)
    with pytest.raises(ModelNotAvailableError):
        load_clip(ClipSpec(str(tmp_path / "missing-folder")))


def test_vgg_weights_load_from_a_safetensors_file_and_missing_hub_weights_fail_clearly(parts, tmp_path):
    from safetensors.torch import save_file

    _, vgg = parts
    path = tmp_path / "vgg19.safetensors"
    save_file({k: v.contiguous() for k, v in vgg.state_dict().items()}, str(path))
    loaded = load_vgg19(VggSpec(source=str(path), width_divisor=16))
    image = torch.rand(1, 3, 32, 32)
    assert all(torch.equal(a, b) for a, b in zip(loaded(image), vgg(image)))
    (tmp_path / "folder").mkdir()
    path.replace(tmp_path / "folder" / "model.safetensors")  # a folder holds timm's file name
    from_folder = load_vgg19(VggSpec(source=str(tmp_path / "folder"), width_divisor=16))
    assert all(torch.equal(a, b) for a, b in zip(from_folder(image), vgg(image)))
    with pytest.raises(ModelNotAvailableError):
        load_vgg19(VggSpec(), offline=True)
    assert isinstance(loaded, VGG19Features)


def test_components_follow_the_content_network_setting(parts, tmp_path):
    from gs_enhancer_addon.core.stylize.components import load_components
    from gs_enhancer_addon.core.stylize.config import StylizeConfig

    clip, _ = parts
    folder = save_clip_folder(clip, tmp_path / "clip", TINY_CLIP_CONFIG)
    config = StylizeConfig(text="fire", clip=ClipSpec(model_name=str(folder)),
                           losses=StyleLossConfig(content_network="clip"))
    loaded, content_net = load_components(config)
    image = torch.rand(1, 3, 32, 32)
    feats = content_net(image)
    assert len(feats) == 2 and feats[0].shape == (1, 64, 4, 4)
    assert content_loss(content_net, image, feats).item() == 0.0
    config.losses.content_network = "vgg19"
    with pytest.raises(ModelNotAvailableError, match="vgg19"):  # default hub VGG, offline in tests
        load_components(config, offline=True)


@pytest.mark.cuda
def test_clip_runs_in_half_precision_on_cuda(parts, tmp_path):
    clip, _ = parts
    folder = save_clip_folder(clip, tmp_path / "clip", TINY_CLIP_CONFIG)
    on_gpu = load_clip(ClipSpec(model_name=str(folder)), device="cuda")
    assert on_gpu.dtype == torch.float16
    image = torch.rand(2, 3, 40, 40)
    emb = on_gpu.encode_images(image.cuda())
    assert emb.dtype == torch.float32
    assert torch.allclose(emb.cpu(), clip.encode_images(image), atol=2e-2)
    assert np.isfinite(emb.cpu().numpy()).all()
