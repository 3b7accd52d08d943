"""Camera-pose conditioning of the SVD UNet, as in the 3DGS-Enhancer release (SVDFor3D).

3DGS-Enhancer's released UNet (xiliu8006/SVDFor3D, `UNet3D/UNetSpatioTemporalFlowCondition.py`,
`inference_svd.py`, `train_svd.py`) conditions every frame of a window on its camera. Per frame f
it builds a 22-value vector

    v_f = [ fps id, motion bucket id, noise augmentation,          # SVD's added time ids (3)
            P_f[0, 0..3], P_f[1, 0..3], P_f[2, 0..3], P_f[3, 0..3],  # relative pose, row-major (16)
            fov, sin(fov), cos(fov) ]                                  # horizontal field of view (3)

    P_f = inv(c2w_f) @ c2w_0      (c2w: camera-to-world, OpenCV axes; frame 0 = the window's first)
    P_f[:3, 3] /= max(max_g |P_g[:3, 3]|, 0.01)    (the window's largest translation norm)
    fov = 2 atan(W / (2 fx))      (radians)

Each of the 22 values is embedded sinusoidally (diffusers `Timesteps`, 48 channels, cos first),
the 22 x 48 values go through a diffusers `TimestepEmbedding` to the UNet's time-embedding width,
and the result is added to frame f's time embedding (the `temb` every UNet block receives).

Where we differ from the release, and why:
- The release REPLACES SVD's `add_embedding` (fps/motion/noise ids) by this embedding, randomly
  initialised, so its UNet starts away from stock SVD. We keep `add_embedding` and ADD this term,
  with the last linear layer zero-initialised: an untrained pose embedding adds exactly 0, and the
  model is exactly stock SVD (tested with torch.equal). The three ids stay in the vector, as in
  the release.
- The release reads COLMAP quaternions (w, x, y, z) and hands them to scipy's
  `Rotation.from_quat`, which expects (x, y, z, w): the rotations it conditions on are wrong as
  geometry (consistently so between its training and inference). We build the poses from the
  cameras' true `world_to_cam` matrices; no quaternion is involved.
- The release takes the field of view of the scene's first COLMAP camera for every frame; we use
  each frame's own intrinsics (our trajectories interpolate K).
- The release trains with fps id 7 and infers with 6 (fps - 1); we use the same ids (SVD's
  fps - 1) in training and inference (`conditioning.added_time_ids`).
- The release zeroes the whole vector in the unconditional pass of classifier-free guidance but
  never drops it in training; we keep the poses in both passes, as the model was trained.

Storage: beside the UNet weights, in the UNet folder: `unet/pose_embedding/` (config.json +
diffusion_pytorch_model.safetensors, diffusers layout). A UNet folder without it (stock SVD) gets
a zero-initialised embedding.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import Tensor

from ..cameras import Camera
from ..errors import InputError
from ..torchvision_compat import ensure_torchvision_importable

ensure_torchvision_importable()

from diffusers.configuration_utils import ConfigMixin, register_to_config  # noqa: E402
from diffusers.models.embeddings import TimestepEmbedding, Timesteps  # noqa: E402
from diffusers.models.modeling_utils import ModelMixin  # noqa: E402

POSE_VALUES = 22  # 3 ids + 16 relative pose + 3 field of view
POSE_FOLDER = "pose_embedding"  # inside the UNet folder
MIN_TRANSLATION_NORM = 1e-2  # the release's floor on the window's largest translation norm


def relative_poses(cameras: Sequence[Camera]) -> np.ndarray:  # [F, 4, 4] float64
    """inv(c2w_f) @ c2w_0 for every frame, translations divided by the window's largest norm."""
    w2c = np.stack([np.asarray(c.world_to_cam, dtype=np.float64) for c in cameras])  # inv(c2w_f)
    poses = w2c @ np.linalg.inv(w2c[0])  # [F, 4, 4]
    largest = float(np.linalg.norm(poses[:, :3, 3], axis=1).max())
    poses[:, :3, 3] /= max(largest, MIN_TRANSLATION_NORM)
    return poses


def field_of_view(camera: Camera) -> float:
    """Horizontal field of view in radians: 2 atan(W / (2 fx))."""
    return 2.0 * math.atan(camera.width / (2.0 * float(camera.K[0, 0])))


def pose_vectors(
    cameras: Sequence[Camera],  # the window's cameras, frame order
    time_ids: Sequence[float],  # [fps id, motion bucket id, noise augmentation] (conditioning.added_time_ids)
) -> Tensor:  # [F, 22] float32
    """The per-frame conditioning vector of the module doc."""
    if len(cameras) < 1:
        raise InputError("Pose conditioning needs the window's cameras (one per frame).")
    if len(time_ids) != 3:
        raise InputError(f"Pose conditioning expects 3 added time ids, got {len(time_ids)}.")
    poses = relative_poses(cameras).reshape(len(cameras), 16)
    fov = np.array([field_of_view(c) for c in cameras])
    fov_terms = np.stack([fov, np.sin(fov), np.cos(fov)], axis=1)
    ids = np.tile(np.asarray(time_ids, dtype=np.float64), (len(cameras), 1))
    return torch.from_numpy(np.concatenate([ids, poses, fov_terms], axis=1)).float()


class PoseEmbedding(ModelMixin, ConfigMixin):
    """Per-frame pose vector -> time-embedding offset (sinusoidal + TimestepEmbedding, last layer zero)."""

    config_name = "config.json"

    @register_to_config
    def __init__(self, time_embed_dim: int = 1280, frequency_channels: int = 48, num_values: int = POSE_VALUES):
        super().__init__()
        self.pose_proj = Timesteps(frequency_channels, True, downscale_freq_shift=0)
        self.pose_embedding = TimestepEmbedding(frequency_channels * num_values, time_embed_dim)
        torch.nn.init.zeros_(self.pose_embedding.linear_2.weight)  # untrained: adds exactly 0
        torch.nn.init.zeros_(self.pose_embedding.linear_2.bias)

    def to(self, *args, **kwargs) -> "PoseEmbedding":
        """torch's `to`: diffusers' ModelMixin.to warns about float32-kept modules on every dtype cast,
        and this module keeps none."""
        return torch.nn.Module.to(self, *args, **kwargs)

    @classmethod
    def for_unet(cls, unet) -> "PoseEmbedding":
        """A zero-initialised embedding matching `unet`'s time-embedding width, on its device/dtype."""
        width = unet.time_embedding.linear_2.out_features
        return cls(time_embed_dim=width).to(device=unet.device, dtype=unet.dtype)

    def forward(self, vectors: Tensor) -> Tensor:  # [B, F, 22] -> [B * F, time_embed_dim]
        batch, frames, values = vectors.shape
        if values != self.config.num_values:
            raise InputError(f"Pose vectors have {values} values; the pose embedding expects {self.config.num_values}.")
        dtype = self.pose_embedding.linear_1.weight.dtype
        sinusoids = self.pose_proj(vectors.reshape(-1).float()).reshape(batch * frames, -1)  # [B*F, 22 * 48]
        return self.pose_embedding(sinusoids.to(dtype))


def save_pose_embedding(module: PoseEmbedding, unet_dir: str | Path) -> Path:
    """Write the embedding into the UNet folder (`unet/pose_embedding/`, safetensors)."""
    folder = Path(unet_dir) / POSE_FOLDER
    module.save_pretrained(folder, safe_serialization=True)
    return folder


def load_pose_embedding(unet_dir: str | Path, unet) -> PoseEmbedding:
    """The UNet folder's pose embedding, or a zero-initialised one when it has none (stock SVD)."""
    folder = Path(unet_dir) / POSE_FOLDER
    if not (folder / "config.json").is_file():
        return PoseEmbedding.for_unet(unet)
    module = PoseEmbedding.from_pretrained(folder, use_safetensors=True)
    width = unet.time_embedding.linear_2.out_features
    if module.config.time_embed_dim != width:
        raise InputError(f"{folder}: the pose embedding is {module.config.time_embed_dim} wide, the UNet's time "
                         f"embedding {width}; they come from different models.")
    return module.to(device=unet.device, dtype=unet.dtype)
