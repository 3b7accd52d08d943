"""Test-wide isolation: Blender and Hugging Face write only into a throw-away folder, offline.

These variables must be set before the first `import bpy` / `import huggingface_hub`, which is
why they are set here at import time rather than in a fixture.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the bpy 4.2 leg does not install the package
    sys.path.insert(0, str(ROOT))

_SANDBOX = Path(tempfile.mkdtemp(prefix="gse-tests-"))
_EXIT_STATUS = pytest.StashKey[int]()
for _name, _sub in (
    ("BLENDER_USER_RESOURCES", "blender-user"),
    ("XDG_CACHE_HOME", "xdg-cache"),
    ("HF_HOME", "hf-home"),
    ("TORCH_HOME", "torch-home"),
):
    os.environ[_name] = str(_SANDBOX / _sub)
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def pytest_configure(config):
    # Tiny tensors: one thread is several times faster than two on these 2-core machines (thread
    # start-up and contention dominate), and it makes CPU results reproducible.
    try:
        import torch
    except ImportError:  # the bpy 4.2 leg has no torch
        return
    torch.set_num_threads(1)


def pytest_sessionfinish(session, exitstatus):
    session.config.stash[_EXIT_STATUS] = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    shutil.rmtree(_SANDBOX, ignore_errors=True)
    from tests.bpy42_exit import exit_now

    exit_now(config.stash.get(_EXIT_STATUS, 1))  # bpy 4.2 only: its teardown crashes


def pytest_collection_modifyitems(config, items):
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:
        has_cuda = False
    skip_cuda = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "cuda" in item.keywords and not has_cuda:
            item.add_marker(skip_cuda)


@pytest.fixture(scope="session")
def sandbox() -> Path:
    """The session's throw-away folder (Blender user resources, caches, HF home live here)."""
    return _SANDBOX


@pytest.fixture
def bpy_empty():
    """Blender's bpy module with an empty factory scene (shared process: reset per test)."""
    bpy = pytest.importorskip("bpy")
    bpy.ops.wm.read_factory_settings(use_empty=True)
    return bpy


@pytest.fixture
def addon_registered(bpy_empty):
    """The add-on registered from the checkout (not installed as an extension), then removed."""
    import gs_enhancer_addon

    gs_enhancer_addon.register()
    try:
        yield bpy_empty
    finally:
        gs_enhancer_addon.unregister()
