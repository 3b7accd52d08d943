"""Arithmetic of one enhancer window at full size, ours vs diffusers' stock SVD pipeline, on any machine.

Wall-clock ratios measured on a CPU at tiny size say little about a GPU at full size: there the
UNet dominates and our extra work (per-frame CLIP, more VAE encodes, the CFW decoder) is a small
share. This counts it exactly instead. Every component is run once at SVD img2vid-xt's real
shapes on the meta device (no memory, no weights, seconds on a CPU) under torch's FlopCounterMode;
the per-frame cost is multiplied by how many frames each pipeline sends through it
(`frames_through`, checked against the real pipelines' calls in tests/core/test_bench_flops.py).

    python bench/flops.py [--frames 25] [--steps 25] [--size 512x512]

FLOPs count matrix multiplies and convolutions (2 per multiply-add), attention included; cheap
elementwise work is left out, which is how torch's counter and most papers count.
"""

from __future__ import annotations

import argparse
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Literal

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from models_full import count_full_size_params, svd_xt_models  # noqa: E402

Pipeline = Literal["ours", "stock"]
COMPONENTS = ("clip", "vae_encoder", "unet", "vae_decoder", "cfw")


def frames_through(pipeline: Pipeline, frames: int, steps: int, guidance: bool = True,
                   cfw: bool = True) -> dict[str, int]:
    """Frames each component processes for one window of `frames` frames and `steps` Euler steps.

    ours  (EnhancerPipeline): CLIP embeds every frame; the VAE encoder sees the noise-augmented
          window and the two clean references (anchor latents); the decoder decodes every frame.
          With a trained CFW (`cfw`), the clean window is encoded again at decode time for the
          CFW features and every frame goes through the CFW blocks; an untrained (zero) CFW is
          skipped, see SpatialTemporalDecoder.fusion_is_identity.
    stock (StableVideoDiffusionPipeline): CLIP and the VAE encoder see the one conditioning image.
    Both: with guidance, every step runs the UNet on 2 x frames (unconditional + conditional).
    """
    unet = steps * frames * (2 if guidance else 1)
    if pipeline == "ours":
        fused = frames if cfw else 0
        return {"clip": frames, "vae_encoder": frames + 2 + fused, "unet": unet, "vae_decoder": frames, "cfw": fused}
    return {"clip": 1, "vae_encoder": 1, "unet": unet, "vae_decoder": frames, "cfw": 0}


@contextmanager
def counting_frames(unet, image_encoder, vae, cfw_block=None) -> Iterator[dict[str, int]]:
    """Count the frames that really go through each component (forward pre-hooks), for either
    pipeline; `cfw_block`: one of our decoder's CFW blocks (every fused frame passes each one)."""
    counts = dict.fromkeys(COMPONENTS, 0)

    def counter(name, frames_of):
        def hook(module, args, kwargs):
            counts[name] += frames_of(args[0] if args else next(iter(kwargs.values())))
        return hook

    hooks = [
        (image_encoder, counter("clip", lambda pixels: pixels.shape[0])),
        (vae.encoder, counter("vae_encoder", lambda pixels: pixels.shape[0])),
        (unet, counter("unet", lambda sample: sample.shape[0] * sample.shape[1])),  # [B, F, C, h, w]
        (vae.decoder.conv_in, counter("vae_decoder", lambda latents: latents.shape[0])),  # [B*F, C, h, w]
    ]
    if cfw_block is not None:
        hooks.append((cfw_block, counter("cfw", lambda enc: enc.shape[0])))  # [B*F, C, H, W]
    handles = [module.register_forward_pre_hook(hook, with_kwargs=True) for module, hook in hooks]
    try:
        yield counts
    finally:
        for handle in handles:
            handle.remove()


def _flops(fn) -> int:
    with FlopCounterMode(display=False) as counter, torch.device("meta"):
        fn()
    return counter.get_total_flops()


def flops_per_frame(height: int, width: int, frames: int, decode_chunk: int = 8) -> dict[str, float]:
    """FLOPs per frame of each component at SVD-xt's shapes ("cfw": the CFW blocks alone)."""
    with torch.device("meta"):
        models = svd_xt_models()
    unet, decoder, clip = (models[k].to("meta") for k in ("unet", "decoder", "image_encoder"))  # some diffusers
    #   parameters are made with torch.Tensor([...]), which ignores the default device
    h, w = height // 8, width // 8
    latent_c = decoder.vae.config.latent_channels
    chunk = min(decode_chunk, frames)
    clip_size = clip.config.image_size  # the processor resizes every frame to this (224 for ViT-H/14)
    clip_f = _flops(lambda: clip(torch.zeros(1, 3, clip_size, clip_size)))
    encoder_f = _flops(lambda: decoder.encode(torch.zeros(1, 3, height, width)))
    unet_f = _flops(lambda: unet(torch.zeros(2, frames, 2 * latent_c, h, w), torch.tensor(1.0),
                                 encoder_hidden_states=torch.zeros(2, 1, unet.config.cross_attention_dim),
                                 added_time_ids=torch.zeros(2, 3), return_dict=False)) / (2 * frames)

    def ours_decode():
        _, features = decoder.encode(torch.zeros(chunk, 3, height, width))
        decoder.decode(torch.zeros(chunk, latent_c, h, w), features, chunk, 0.5)

    fused_decode_f = _flops(ours_decode) - chunk * encoder_f  # the encode is counted on its own
    decoder_f = _flops(lambda: decoder.vae.decode(torch.zeros(chunk, latent_c, h, w), num_frames=chunk))
    return {"clip": clip_f, "vae_encoder": encoder_f, "unet": unet_f, "vae_decoder": decoder_f / chunk,
            "cfw": (fused_decode_f - decoder_f) / chunk}


VARIANTS = {  # name: frames_through arguments
    "ours, trained CFW": dict(pipeline="ours", cfw=True),
    "ours, zero CFW": dict(pipeline="ours", cfw=False),  # untrained decoder, e.g. public SVD weights
    "stock SVD": dict(pipeline="stock"),
}


def window_flops(height: int = 512, width: int = 512, frames: int = 25, steps: int = 25,
                 decode_chunk: int = 8) -> dict:
    """TFLOPs per component and in total for one window, for each of VARIANTS, and ratios to stock."""
    per_frame = flops_per_frame(height, width, frames, decode_chunk)
    report: dict = {"height": height, "width": width, "frames": frames, "steps": steps, "tflop": {}}
    for name, args in VARIANTS.items():
        counts = frames_through(frames=frames, steps=steps, **args)
        tflops = {c: counts[c] * per_frame[c] / 1e12 for c in COMPONENTS}
        report["tflop"][name] = {**tflops, "total": sum(tflops.values())}
    stock = report["tflop"]["stock SVD"]["total"]
    report["ratio_to_stock"] = {name: v["total"] / stock for name, v in report["tflop"].items()}
    # Weights in 16-bit floats: the floor of the enhance stage's GPU memory (activations come on top).
    report["weights_gib_16bit"] = {k: m * 1e6 * 2 / 2**30 for k, m in count_full_size_params().items()}
    return report


def print_window_flops(report: dict) -> None:
    print(f"one window, SVD-xt shapes, {report['frames']} frames at {report['width']}x{report['height']}, "
          f"{report['steps']} steps (TFLOP, counted on the meta device)")
    names = list(report["tflop"])
    print(f"{'component':<13}" + "".join(f"{n:>20}" for n in names))
    for c in (*COMPONENTS, "total"):
        print(f"{c:<13}" + "".join(f"{report['tflop'][n][c]:>20.1f}" for n in names))
    print(f"{'/ stock':<13}" + "".join(f"{report['ratio_to_stock'][n]:>20.3f}" for n in names))
    weights = report["weights_gib_16bit"]
    print("weights in bf16/fp16: " + ", ".join(f"{k} {v:.2f} GiB" for k, v in weights.items())
          + f"; together {sum(weights.values()):.2f} GiB")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=25)
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--size", default="512x512", help="HEIGHTxWIDTH, multiples of 64")
    args = parser.parse_args(argv)
    height, width = (int(v) for v in args.size.split("x"))
    print_window_flops(window_flops(height, width, args.frames, args.steps))
    return 0


if __name__ == "__main__":
    sys.exit(main())
