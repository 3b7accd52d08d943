"""Property-based fuzzing: random and mutated headers and bytes never crash, hang or over-allocate.

Every outcome must be either a valid GaussianScene or a SplatFileError naming the file.
GSE_FUZZ_EXAMPLES=1500 runs a longer campaign (default 60 examples per test, a few seconds).
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gs_enhancer_addon.core.errors import SplatFileError
from gs_enhancer_addon.core.gaussians import GaussianScene
from gs_enhancer_addon.core.io import read_scene
from gs_enhancer_addon.core.io.ply import property_names, scene_table

FUZZ = settings(max_examples=int(__import__("os").environ.get("GSE_FUZZ_EXAMPLES", "60")), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def valid_ply(n: int = 4, degree: int = 1, encoding: str = "binary_little_endian") -> bytes:
    rng = np.random.default_rng(n)
    k = (degree + 1) ** 2
    scene = GaussianScene(rng.standard_normal((n, 3), dtype=np.float32), rng.standard_normal((n, 4), dtype=np.float32),
                          rng.standard_normal((n, 3), dtype=np.float32), rng.standard_normal(n, dtype=np.float32),
                          rng.standard_normal((n, k, 3), dtype=np.float32))
    header = f"ply\nformat {encoding} 1.0\nelement vertex {n}\n" + "".join(
        f"property float {name}\n" for name in property_names(degree)) + "end_header\n"
    table = scene_table(scene)
    if encoding == "ascii":
        body = "".join(" ".join(f"{v:.9g}" for v in row) + "\n" for row in table).encode()
    else:
        body = table.astype(">f4" if encoding == "binary_big_endian" else "<f4").tobytes()
    return header.encode() + body


def check(tmp_path, data: bytes, name: str = "fuzz.ply") -> None:
    path = tmp_path / name
    path.write_bytes(data)
    for policy in ("error", "keep"):
        try:
            scene = read_scene(path, nonfinite=policy)
        except SplatFileError as exc:
            assert exc.path == path and str(exc).startswith(name + ": ") and exc.problem
        else:
            scene.validate(allow_nonfinite=policy == "keep")
            assert len(scene) > 0


@FUZZ
@given(st.binary(max_size=600), st.sampled_from(["fuzz.ply", "fuzz.splat", "fuzz.bin"]))
def test_random_bytes(tmp_path, data, name):
    check(tmp_path, data, name)
    check(tmp_path, b"ply\n" + data, name)


header_lines = st.sampled_from([
    "format binary_little_endian 1.0", "format binary_big_endian 1.0", "format ascii 1.0", "format zip 2",
    "element vertex 3", "element vertex 0", "element vertex 99999999999", "element vertex -4", "element chunk 1",
    "element sh 3", "property float x", "property double y", "property half z", "property uchar f_dc_0",
    "property list uchar int vertex_indices", "property float f_rest_0", "property float opacity",
    "property uint packed_position", "property blob q", "comment hello", "element", "property", "",
])


@FUZZ
@given(st.integers(0, 3), st.sampled_from(["binary_little_endian", "binary_big_endian", "ascii"]),
       st.lists(st.tuples(st.integers(0, 80), header_lines), max_size=4), st.integers(0, 4000))
def test_mutated_headers_and_truncation(tmp_path, degree, encoding, edits, cut):
    data = valid_ply(degree=degree, encoding=encoding)
    head, body = data.split(b"end_header\n", 1)
    lines = head.decode().split("\n")
    for position, line in edits:
        i = 1 + position % len(lines)
        if position % 2:
            lines.insert(i, line)
        else:
            lines[min(i, len(lines) - 1)] = line
    mutated = "\n".join(lines).encode() + b"end_header\n" + body
    check(tmp_path, mutated[:len(mutated) - cut % (len(mutated) + 1)])


@FUZZ
@given(st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=12))
def test_flipped_bytes(tmp_path, flips):
    data = bytearray(valid_ply(n=6, degree=2))
    for position, value in flips:
        data[position % len(data)] = value
    check(tmp_path, bytes(data))
