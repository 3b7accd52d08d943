"""Fuzzing SPZ, .ksplat and SOG: mutated and truncated files give a scene or a SplatFileError, never a
crash, a hang or an allocation the file size does not justify (same contract as test_io_fuzz.py)."""

from __future__ import annotations

import gzip
import io
import zipfile

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gs_enhancer_addon.core.io.spz import write_spz
from tests.builders import random_scene

from .splat_encoders import ksplat_bytes, sog_files
from .test_io_fuzz import FUZZ, check


def _spz(tmp_path_factory, version: int) -> bytes:
    path = tmp_path_factory.mktemp("spz") / "seed.spz"
    write_spz(random_scene(6, degree=1, seed=version), path, version=version)
    return path.read_bytes()


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    spz3 = _spz(tmp_path_factory, 3)
    return {"spz3": spz3, "spz3raw": gzip.decompress(spz3), "spz4": _spz(tmp_path_factory, 4),
            "ksplat": ksplat_bytes(random_scene(5, degree=1, seed=2), level=1)}


edits = st.lists(st.tuples(st.integers(0, 5000), st.integers(0, 255)), max_size=6)


def _mutate(data: bytes, changes, cut: int) -> bytes:
    out = bytearray(data)
    for position, value in changes:
        out[position % len(out)] = value
    return bytes(out[:len(out) - cut % (len(out) + 1)])


@FUZZ
@given(st.sampled_from(["spz3", "spz3raw", "spz4"]), edits, st.integers(0, 400))
def test_mutated_spz(tmp_path, seeds, which, changes, cut):
    data = _mutate(seeds[which], changes, cut)
    check(tmp_path, data, "fuzz.spz")
    if which == "spz3raw":
        check(tmp_path, gzip.compress(data), "fuzz.spz")


@FUZZ
@given(edits, st.integers(0, 6000), st.sampled_from([0, 4, 8, 12, 16, 20, 36, 4096, 4100, 4108, 4120, 4124, 4128,
                                                     4132, 4136]), st.integers(0, 2 ** 32 - 1))
def test_mutated_ksplat(tmp_path, seeds, changes, cut, field, value):
    data = bytearray(seeds["ksplat"])
    data[field:field + 4] = value.to_bytes(4, "little")
    check(tmp_path, _mutate(bytes(data), changes, cut), "fuzz.ksplat")


@FUZZ
@given(st.sampled_from(["meta.json", "means_l.webp", "quats.webp", "sh0.webp", "shN_labels.webp",
                        "shN_centroids.webp"]), edits, st.integers(0, 300))
def test_mutated_sog(tmp_path, which, changes, cut):
    pytest.importorskip("PIL.WebPImagePlugin")
    files = sog_files(random_scene(5, degree=1, seed=3))
    files[which] = _mutate(files[which], changes, cut)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    check(tmp_path, buf.getvalue(), "fuzz.sog")


@FUZZ
@given(st.integers(0, 2 ** 32 - 1))
def test_ksplat_partial_bucket_sizes(tmp_path, seeds, value):
    """The partial-bucket sizes sit in the data, not the header: a huge one must not drive an allocation."""
    data = bytearray(seeds["ksplat"])
    offset = 4096 + 1024  # the seed file's one partial bucket (5 splats in buckets of 3)
    data[offset:offset + 4] = value.to_bytes(4, "little")
    check(tmp_path, bytes(data), "fuzz.ksplat")
