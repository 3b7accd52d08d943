"""gsplat's CUDA kernels unavailable (no prebuilt wheel, no nvcc/compiler): the torch rasterizer
takes over on the same device, and the user is told once, in words they can act on.

On CPU machines the decision is driven with a CUDA device descriptor (no tensors live there);
the test marked `cuda` renders through the fallback on a real GPU and compares it with gsplat.
"""

from __future__ import annotations

import math

import pytest
import torch

from gs_enhancer_addon.core.errors import DeviceError
from gs_enhancer_addon.core.render import backend_notes, render
from gs_enhancer_addon.core.render import api, gsplat_backend
from tests.builders import camera_looking_at
from tests.core.test_render import random_scene, tensors

CUDA0 = torch.device("cuda", 0)


@pytest.fixture
def fresh_checks():
    gsplat_backend.forget_kernel_checks()
    yield
    gsplat_backend.forget_kernel_checks()


@pytest.fixture
def kernels_off(monkeypatch, fresh_checks):
    monkeypatch.setenv(gsplat_backend.GSPLAT_SWITCH, "off")


def _cameras(width=48, height=36):
    return [camera_looking_at((3 * math.cos(a), 3 * math.sin(a), 0.5), (0, 0, 0), width=width, height=height,
                              focal=40.0) for a in (0.4, 2.5)]


def _assert_actionable(note: str, device: str) -> None:
    assert device in note
    assert "slower" in note, "says what the fallback costs"
    assert "prebuilt gsplat wheel" in note and "CUDA toolkit" in note, "says how to get the fast path"
    assert "README" in note


def test_unavailable_kernels_fall_back_and_say_so_once(kernels_off):
    assert backend_notes() == []
    for _ in range(3):  # every render asks; the check and the note happen once
        assert api._pick_backend("auto", CUDA0) is False
    check = gsplat_backend.gsplat_kernels(CUDA0)
    assert not check.ok and gsplat_backend.GSPLAT_SWITCH in check.reason
    (note,) = backend_notes()
    _assert_actionable(note, "cuda:0")
    assert check.reason in note
    assert backend_notes() == [], "handed out once (the next job does not repeat it)"
    assert api._pick_backend("auto", CUDA0) is False and backend_notes() == []


def test_cpu_tensors_never_ask_for_kernels(kernels_off):
    assert api._pick_backend("auto", torch.device("cpu")) is False
    assert backend_notes() == [], "the CPU path is the normal one there: nothing to say"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the real failure on a machine without CUDA")
def test_real_gsplat_without_cuda_reports_why(fresh_checks, monkeypatch):
    """Not forced: on a CPU machine, gsplat's kernels really cannot load (no CUDA runtime / build)."""
    pytest.importorskip("gsplat")
    monkeypatch.delenv(gsplat_backend.GSPLAT_SWITCH, raising=False)
    check = gsplat_backend.gsplat_kernels(CUDA0)
    assert not check.ok and check.reason
    (note,) = backend_notes()
    _assert_actionable(note, "cuda:0")
    print(f"\nreal reason here: {check.reason}")


def test_explicit_gsplat_request_names_the_problem(kernels_off):
    with pytest.raises(DeviceError, match="CUDA"):
        api._pick_backend("cuda", CUDA0 if not torch.cuda.is_available() else torch.device("cpu"))
    if torch.cuda.is_available():
        with pytest.raises(DeviceError, match="'auto' renderer"):
            api._pick_backend("cuda", CUDA0)


def test_fallback_image_is_the_reference_image(kernels_off):
    """What the fallback renders on the Gaussians' own device equals the torch reference exactly."""
    device = "cuda" if torch.cuda.is_available() else "cpu"
    scene = random_scene(300, seed=21, degree=2)
    g = tensors(scene, torch.float32, device, grad=False)
    cams = _cameras()
    out = render(g, cams, background=(0.1, 0.2, 0.3), backend="auto")
    assert out.rgb.device.type == device and out.info is None, "the reference ran, not gsplat"
    ref = render(g, cams, background=(0.1, 0.2, 0.3), backend="cpu")
    assert torch.equal(out.rgb, ref.rgb) and torch.equal(out.alpha, ref.alpha)
    assert out.alpha.amax() > 0.5, "the scene is in view"


@pytest.mark.cuda
def test_fallback_on_cuda_matches_gsplat(fresh_checks, monkeypatch):
    """On a GPU: gsplat's image first, then the forced fallback on the same GPU; print the figures."""
    scene = random_scene(4000, seed=22, degree=3, scale=(0.01, 0.08), opacity=1.0)
    g = tensors(scene, torch.float32, "cuda", grad=False)
    cams = _cameras(128, 96)
    fast = render(g, cams, background=(0.1, 0.2, 0.3), backend="auto")
    assert fast.info is not None, "gsplat's kernels should work on this GPU (gpu_check builds them first)"
    gsplat_backend.forget_kernel_checks()
    monkeypatch.setenv(gsplat_backend.GSPLAT_SWITCH, "off")
    slow = render(g, cams, background=(0.1, 0.2, 0.3), backend="auto")
    assert slow.info is None and slow.rgb.is_cuda
    mse = torch.mean((fast.rgb.double() - slow.rgb.double()) ** 2).item()
    psnr = float("inf") if mse == 0 else -10 * math.log10(mse)
    print(f"\n[fallback on cuda] PSNR of the fallback vs gsplat: {psnr:.1f} dB")
    assert psnr > 45.0
    (note,) = backend_notes()
    _assert_actionable(note, "cuda")


def test_densification_without_gsplat_kernels_is_a_device_error(monkeypatch):
    """The torch fallback renders but yields none of gsplat's statistics: densification must say
    so in words instead of failing deep inside the optimizer loop."""
    from gs_enhancer_addon.core import refine as refine_module
    from gs_enhancer_addon.core.errors import DeviceError
    from gs_enhancer_addon.core.refine_config import RefineConfig
    from gs_enhancer_addon.core.render import gsplat_backend

    monkeypatch.setattr(gsplat_backend, "gsplat_kernels", lambda device: gsplat_backend.KernelCheck(False, "no nvcc"))
    with pytest.raises(DeviceError, match=r"gsplat's CUDA kernels, which cannot run here \(no nvcc\)"):
        refine_module._make_strategy({}, {}, RefineConfig(densify=True), torch.device("cuda"), 1.0)
