"""Pose conditioning (3DGS-Enhancer release, corrected) and the permanent per-frame conditioning hooks,
on tiny real diffusers/transformers components."""

from __future__ import annotations

from dataclasses import replace

import math
from contextlib import contextmanager

import numpy as np
import pytest
import torch

from gs_enhancer_addon.core.cameras import Camera, look_at
from gs_enhancer_addon.core.enhance.components import (
    EnhancerSources, dummy_components, ensure_tiny_enhancer, load_enhancer,
)
from gs_enhancer_addon.core.enhance.conditioning import FrameConditioning, run_unet
from gs_enhancer_addon.core.enhance.config import EnhancerConfig
from gs_enhancer_addon.core.enhance.pipeline import EnhancerPipeline
from gs_enhancer_addon.core.enhance.pose import (
    POSE_FOLDER, PoseEmbedding, field_of_view, pose_vectors, relative_poses,
)
from gs_enhancer_addon.core.errors import InputError
from gs_enhancer_addon.core.models import ModelSource

from ._enhance_helpers import window

FAST = EnhancerConfig(num_inference_steps=2)


def _cameras(frames: int, width: int = 32, fx: float = 16.0) -> list[Camera]:
    K = np.array([[fx, 0.0, width / 2], [0.0, fx, width / 2], [0.0, 0.0, 1.0]])
    eyes = [(3.0 * math.cos(a), 3.0 * math.sin(a), 1.0) for a in np.linspace(0.0, 1.2, frames)]
    return [Camera(K, look_at(eye, (0, 0, 0)), width, width, f"c{i}") for i, eye in enumerate(eyes)]


@pytest.fixture(scope="module")
def pipe() -> EnhancerPipeline:
    return EnhancerPipeline(**dummy_components(seed=0))


def _train_pose_embedding(module: PoseEmbedding, seed: int = 1) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.pose_embedding.linear_2.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)


# -- the vector ---------------------------------------------------------------------------------

def test_relative_pose_maps_frame0_camera_coordinates_to_frame_f():
    cams = _cameras(4)
    poses = relative_poses(cams)
    assert np.allclose(poses[0], np.eye(4))
    points = np.random.default_rng(0).normal(size=(5, 3))
    homog = np.concatenate([points, np.ones((5, 1))], axis=1)
    in_cam0 = homog @ cams[0].world_to_cam.T
    scale = max(np.linalg.norm((c.world_to_cam @ cams[0].cam_to_world)[:3, 3]) for c in cams)
    for cam, pose in zip(cams, poses):
        unscaled = pose.copy()
        unscaled[:3, 3] *= scale  # undo the window normalisation
        assert np.allclose(in_cam0 @ unscaled.T, homog @ cam.world_to_cam.T)
        assert np.allclose(pose[:3, :3] @ pose[:3, :3].T, np.eye(3))  # a true rotation (no quaternion slip)
    assert np.isclose(np.linalg.norm(poses[:, :3, 3], axis=1).max(), 1.0)


def test_pose_vector_layout_ids_pose_fov():
    cams = _cameras(3, width=32, fx=16.0)  # fov = 2 atan(1) = pi / 2
    vectors = pose_vectors(cams, [6, 127, 0.02])
    assert vectors.shape == (3, 22) and vectors.dtype == torch.float32
    assert torch.allclose(vectors[:, :3], torch.tensor([6.0, 127.0, 0.02]).expand(3, 3))
    assert torch.allclose(vectors[:, 3:19], torch.from_numpy(relative_poses(cams).reshape(3, 16)).float())
    assert field_of_view(cams[0]) == pytest.approx(math.pi / 2)
    assert torch.allclose(vectors[:, 19:], torch.tensor([math.pi / 2, 1.0, 0.0]).expand(3, 3), atol=1e-6)


def test_coincident_cameras_use_the_translation_floor():
    cams = _cameras(1) * 3
    assert np.allclose(relative_poses(cams), np.eye(4))  # no division by zero


# -- untrained = stock SVD -----------------------------------------------------------------------

def test_untrained_pose_embedding_is_exactly_stock(pipe):
    frames = window(frames=4)
    assert torch.equal(pipe(frames, FAST), pipe(frames, FAST, cameras=_cameras(4)))
    unet = pipe.unet
    emb = torch.randn(1, 3, 1, unet.config.cross_attention_dim)
    sample, ids = torch.randn(1, 3, 8, 8, 8), torch.tensor([[6.0, 127.0, 0.02]])
    offset = pipe.pose_embedding(pose_vectors(_cameras(3), [6, 127, 0.02])[None])
    assert offset.shape == (3, unet.time_embedding.linear_2.out_features) and not offset.any()
    with torch.no_grad():
        assert torch.equal(run_unet(unet, sample, torch.tensor(0.5), emb, ids, offset),
                           run_unet(unet, sample, torch.tensor(0.5), emb, ids))


def test_trained_pose_embedding_changes_frames_and_round_trips_with_the_unet_folder(tmp_path):
    pipe = EnhancerPipeline(**dummy_components(seed=0))
    _train_pose_embedding(pipe.pose_embedding)
    frames, cams = window(frames=4), _cameras(4)
    posed = pipe(frames, FAST, cameras=cams)
    assert not torch.allclose(posed[1:-1], pipe(frames, FAST)[1:-1], atol=1e-4)
    pipe.save_pretrained(tmp_path / "set")
    assert (tmp_path / "set" / "unet" / POSE_FOLDER / "config.json").is_file()
    assert list((tmp_path / "set" / "unet" / POSE_FOLDER).glob("*.safetensors"))
    loaded = load_enhancer(EnhancerSources(base=ModelSource(str(tmp_path / "set")), variant=None),
                           precision="float32")
    for a, b in zip(loaded.pose_embedding.parameters(), pipe.pose_embedding.parameters()):
        assert torch.equal(a, b)
    assert torch.equal(loaded(frames, FAST, cameras=cams), posed)
    # the ablation switch: the same window without its cameras, bit for bit
    unposed = replace(FAST, pose_conditioning=False)
    assert torch.equal(pipe(frames, unposed, cameras=cams), pipe(frames, FAST))


def test_stock_unet_folder_without_pose_embedding_loads_zero(tmp_path):
    import shutil

    folder = ensure_tiny_enhancer(tmp_path)
    shutil.rmtree(folder / "unet" / POSE_FOLDER)  # a stock SVD UNet folder has none
    loaded = load_enhancer(EnhancerSources(base=ModelSource(str(folder)), variant=None), precision="float32")
    assert all(not p.any() for p in loaded.pose_embedding.pose_embedding.linear_2.parameters())


def test_a_fine_tuned_unet_without_its_pose_embedding_is_named_not_silently_zeroed(tmp_path):
    """train-enhancer writes unet/pose_embedding/ beside the UNet: a copy that lost it (or a hub
    upload without it) would run as stock SVD, so the file check names the missing file."""
    from gs_enhancer_addon.core.errors import ModelNotAvailableError

    folder = ensure_tiny_enhancer(tmp_path)
    (folder / "unet" / POSE_FOLDER / "diffusion_pytorch_model.safetensors").unlink()
    sources = EnhancerSources(base=ModelSource(str(folder)), unet=ModelSource(str(folder / "unet")), variant=None)
    with pytest.raises(ModelNotAvailableError, match="pose_embedding/diffusion_pytorch_model.safetensors"):
        load_enhancer(sources, precision="float32")


def test_camera_count_must_match_frames(pipe):
    with pytest.raises(InputError, match="one camera per frame"):
        pipe(window(frames=4), FAST, cameras=_cameras(3))


# -- permanent hooks (torch.compile-ready) ---------------------------------------------------------

@contextmanager
def _per_call_hooks(unet, embeddings):
    """The conditioning as it was before: pre-hooks registered and removed around every call."""

    def swap(module, args, kwargs):
        kwargs["encoder_hidden_states"] = embeddings.to(kwargs["encoder_hidden_states"].dtype)
        return args, kwargs

    blocks = [b for b in [*unet.down_blocks, unet.mid_block, *unet.up_blocks] if getattr(b, "has_cross_attention", 0)]
    blocks.append(unet.mid_block)
    handles = [b.register_forward_pre_hook(swap, with_kwargs=True) for b in dict.fromkeys(blocks)]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def test_permanent_hooks_equal_the_per_call_hooks_exactly():
    unet = EnhancerPipeline(**dummy_components(seed=0)).unet
    emb = torch.randn(2, 3, 1, unet.config.cross_attention_dim)  # batch 2 (CFG), 3 frames, all different
    sample, ids = torch.randn(2, 3, 8, 8, 8), torch.tensor([[6.0, 127.0, 0.02]] * 2)
    with torch.no_grad():
        with _per_call_hooks(unet, emb.reshape(6, 1, -1)):
            before = unet(sample, torch.tensor(0.5), encoder_hidden_states=emb[:, 0], added_time_ids=ids).sample
        now = run_unet(unet, sample, torch.tensor(0.5), emb, ids)
    assert torch.equal(now, before)


def test_hooks_are_registered_once_and_the_slot_is_emptied():
    unet = EnhancerPipeline(**dummy_components(seed=0)).unet
    blocks = [*unet.down_blocks, unet.mid_block, *unet.up_blocks]
    emb = torch.randn(1, 3, 1, unet.config.cross_attention_dim)
    sample, ids = torch.randn(1, 3, 8, 8, 8), torch.tensor([[6.0, 127.0, 0.02]])
    with torch.no_grad():
        run_unet(unet, sample, torch.tensor(0.5), emb, ids)
        counts = [len(b._forward_pre_hooks) for b in blocks]
        run_unet(unet, sample, torch.tensor(0.5), emb + 1, ids)
        assert [len(b._forward_pre_hooks) for b in blocks] == counts == [1] * len(blocks)
        slot = FrameConditioning.of(unet)
        assert slot.cross_attention is None and slot.time_offset is None
        with pytest.raises(ValueError, match="frames"):  # wrong frame count: the slot is emptied anyway
            run_unet(unet, sample, torch.tensor(0.5), emb[:, :2], ids)
        assert slot.cross_attention is None
        stock = unet(sample, torch.tensor(0.5), encoder_hidden_states=emb[:, 0], added_time_ids=ids).sample
        repeated = run_unet(unet, sample, torch.tensor(0.5), emb[:, :1].expand(1, 3, 1, -1), ids)
    assert torch.equal(stock, repeated)  # empty slot: the hooks leave a plain call stock


def test_compiled_unet_traces_once_and_matches_the_module():
    """torch.compile (dynamo, eager backend: no code generation) sees one graph for calls with new
    embeddings and poses, and a compiled UNet shares the conditioning slot of the module it wraps."""
    import torch._dynamo as dynamo

    unet = EnhancerPipeline(**dummy_components(seed=0)).unet
    compiled = torch.compile(unet, backend="eager", dynamic=False)
    sample, ids = torch.randn(1, 3, 8, 8, 8), torch.tensor([[6.0, 127.0, 0.02]])
    g = torch.Generator().manual_seed(0)
    dynamo.reset()
    with dynamo.config.patch(error_on_recompile=True), torch.no_grad():
        for _ in range(3):
            emb = torch.randn(1, 3, 1, unet.config.cross_attention_dim, generator=g)
            offset = torch.randn(3, unet.time_embedding.linear_2.out_features, generator=g)
            assert torch.equal(run_unet(compiled, sample, torch.tensor(0.5), emb, ids, offset),
                               run_unet(unet, sample, torch.tensor(0.5), emb, ids, offset))
    assert FrameConditioning.of(compiled) is FrameConditioning.of(unet)
    dynamo.reset()
