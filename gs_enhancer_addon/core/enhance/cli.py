"""argparse commands for the trainings: `train-vae`, `train-enhancer` and `train-decoder`.

The package CLI wires them with `add_training_commands(subparsers)`; each parsed namespace carries
`func(args) -> int`.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields


BASE_HELP = "base SVD folder or hub id (default: the SVD img2vid-xt repo)"


def _add_common(parser: argparse.ArgumentParser, base_help: str = BASE_HELP) -> None:
    parser.add_argument("dataset", help="dataset folder (<window>/input/*.png, <window>/target/*.png)")
    parser.add_argument("output_dir", help="checkpoints and the trained model folder go here")
    parser.add_argument("--base", help=base_help)
    parser.add_argument("--steps", type=int)
    parser.add_argument("--learning-rate", type=float)
    parser.add_argument("--checkpoint-every", type=int)
    parser.add_argument("--no-resume", dest="resume", action="store_false", default=None,
                        help="start from step 0 even if checkpoints exist")
    parser.add_argument("--device", help="auto, cpu or cuda")
    parser.add_argument("--max-pixels", type=int)
    parser.add_argument("--max-frames", type=int, help="train on at most this many frames of a window per step "
                                                        "(both references kept; default: whole windows)")
    parser.add_argument("--seed", type=int)


def _config(cls, args: argparse.Namespace):
    names = {f.name for f in fields(cls)}
    values = {k: v for k, v in vars(args).items() if k in names and v is not None}
    return cls(**values)


def _print_progress(fraction: float, message: str) -> None:
    print(f"[{fraction * 100:5.1f}%] {message}", file=sys.stderr, flush=True)


def _run_enhancer(args: argparse.Namespace) -> int:
    from .training import EnhancerTrainConfig, train_enhancer

    result = train_enhancer(_config(EnhancerTrainConfig, args), progress=_print_progress)
    print(f"Trained UNet saved to {result.output}")
    return 0


def _run_decoder(args: argparse.Namespace) -> int:
    from .training import DecoderTrainConfig, train_decoder

    result = train_decoder(_config(DecoderTrainConfig, args), progress=_print_progress)
    print(f"Trained spatial-temporal decoder saved to {result.output}")
    return 0


def _run_vae(args: argparse.Namespace) -> int:
    from .vae_training import VaeTrainConfig, train_vae

    result = train_vae(_config(VaeTrainConfig, args), progress=_print_progress)
    print(f"Trained VAE saved to {result.output}")
    return 0


def add_training_commands(subparsers) -> None:
    """Register `train-vae`, `train-enhancer` and `train-decoder` on an argparse subparsers object."""
    vae = subparsers.add_parser("train-vae", help="train the temporal VAE as an autoencoder (from scratch)")
    _add_common(vae, "folder with vae/config.json, a VAE folder or a hub id: the VAE config (and, with "
                     "--from-base-weights, the weights) to start from (default: the tiny enhancer's VAE)")
    vae.add_argument("--from-base-weights", action="store_true", default=None,
                     help="start from the base's VAE weights instead of fresh ones")
    vae.add_argument("--perceptual-weight", type=float)
    vae.add_argument("--kl-weight", type=float)
    vae.set_defaults(func=_run_vae)
    enhancer = subparsers.add_parser("train-enhancer", help="train the video UNet's temporal layers and pose embedding")
    _add_common(enhancer)
    enhancer.add_argument("--conditioning-dropout", type=float)
    enhancer.add_argument("--p-mean", type=float, help="mean of log(sigma) in training (default 0.7, as SVD)")
    enhancer.add_argument("--p-std", type=float, help="std of log(sigma) in training (default 1.6, as SVD)")
    enhancer.add_argument("--layers", choices=("temporal", "all"),
                          help="temporal (default: temporal layers + pose embedding, for real SVD weights) or "
                               "all (every UNet weight, for a small model trained from scratch)")
    enhancer.set_defaults(func=_run_enhancer)
    decoder = subparsers.add_parser("train-decoder", help="train the spatial-temporal decoder (CFW)")
    _add_common(decoder)
    decoder.add_argument("--decoder", help="start from this trained decoder folder")
    decoder.add_argument("--adversarial-weight", type=float)
    decoder.add_argument("--disc-start", type=int)
    decoder.set_defaults(func=_run_decoder)
