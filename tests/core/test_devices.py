"""core.devices: one rule for which device a job runs on, and device failures in user words."""

from __future__ import annotations

import pytest
import torch

from gs_enhancer_addon.core.devices import resolve_device, resolve_devices, translate_device_errors
from gs_enhancer_addon.core.errors import DeviceError


def test_cpu_and_auto_resolve_without_a_gpu():
    assert resolve_devices("cpu") == [torch.device("cpu")]
    assert resolve_devices("auto") == [torch.device("cuda" if torch.cuda.is_available() else "cpu")]
    assert resolve_device(" CPU ") == torch.device("cpu")


@pytest.mark.parametrize("spec, match", [
    ("gpu", "not a device"),
    ("mps", "only CPU and CUDA"),
    ("cuda:0,0", "names a device twice|no CUDA GPU"),
])
def test_bad_device_names_are_device_errors(spec, match):
    with pytest.raises(DeviceError, match=match):
        resolve_devices(spec)


def test_several_gpus_parse_and_keep_their_index(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_devices("cuda:0,1") == [torch.device("cuda:0"), torch.device("cuda:1")]
    assert resolve_devices("cuda:1") == [torch.device("cuda:1")], "cuda:1 stays cuda:1"
    with pytest.raises(DeviceError, match="no GPU 2"):
        resolve_devices("cuda:2")
    with pytest.raises(DeviceError, match="several devices"):
        resolve_device("cuda:0,1")


def test_cuda_without_a_gpu_is_refused(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(DeviceError, match="no CUDA GPU is usable"):
        resolve_devices("cuda")


def test_out_of_memory_names_the_stage_and_what_to_lower():
    with pytest.raises(DeviceError, match="out of memory during the enhance stage; lower the resolution") as info:
        with translate_device_errors("enhance"):
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
    assert isinstance(info.value.__cause__, torch.cuda.OutOfMemoryError)
    with pytest.raises(DeviceError, match="not supported by the installed PyTorch"):
        with translate_device_errors("refine"):
            raise RuntimeError("CUDA error: no kernel image is available for execution on the device")


def test_other_errors_pass_through_unchanged():
    with pytest.raises(RuntimeError, match="shape mismatch"):
        with translate_device_errors("render"):
            raise RuntimeError("shape mismatch")


def test_the_device_choice_is_checked_for_form_before_any_work():
    from gs_enhancer_addon.core.errors import InputError
    from gs_enhancer_addon.core.job_config import check_device_spec

    for good in ("auto", "all", "cpu", "cuda", "cuda:1", "cuda:0, 1"):
        check_device_spec(good)
    for bad, words in (("foo", "not a device"), ("mps", "not a device"), ("cuda:", "not a device"),
                       ("cuda:0,0", "twice")):
        with pytest.raises(InputError, match=words):
            check_device_spec(bad)


def test_plain_cuda_is_named_by_its_index(monkeypatch):
    """One GPU has one name, so the model cache never holds two sets for it."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 1)
    assert resolve_devices("cuda") == resolve_devices("auto") == [torch.device("cuda:1")]
