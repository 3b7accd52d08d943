"""INRIA 3DGS .ply: lossless round trips, foreign layouts, and clear errors for bad files."""

from __future__ import annotations

import numpy as np
import pytest
from plyfile import PlyData, PlyElement

from gs_enhancer_addon.core.errors import InputError, SplatFileError
from tests.builders import assert_same_scene, random_scene
from gs_enhancer_addon.core.gaussians import FIELDS, GaussianScene
from gs_enhancer_addon.core.io import read_scene, write_scene
from gs_enhancer_addon.core.io.ply import property_names, read_ply_rows, scene_rows, scene_table
from gs_enhancer_addon.core.io import write_scene
from gs_enhancer_addon.core.io.ply import read_ply, write_ply


def write_raw_ply(path, columns: dict[str, np.ndarray], encoding="binary_little_endian", types=None,
                  before: str = "", after: bytes = b"") -> None:
    """A PLY with a vertex element made of `columns` (name -> values), each with a PLY type."""
    types = types or {}
    order = ">" if encoding == "binary_big_endian" else "<"
    codes = {"float": "f4", "double": "f8", "half": "f2", "uchar": "u1", "int": "i4", "short": "i2"}
    n = len(next(iter(columns.values())))
    header = f"ply\nformat {encoding} 1.0\ncomment made by a test\n{before}element vertex {n}\n"
    header += "".join(f"property {types.get(k, 'float')} {k}\n" for k in columns) + "end_header\n"
    dtype = np.dtype([(k, order + codes[types.get(k, "float")]) for k in columns])
    rows = np.empty(n, dtype=dtype)
    for k, v in columns.items():
        rows[k] = v
    with open(path, "wb") as f:
        f.write(header.encode())
        if encoding == "ascii":
            for row in rows:
                f.write((" ".join(repr(float(x)) for x in row) + "\n").encode())
        else:
            f.write(rows.tobytes())
        f.write(after)


def scene_columns(scene: GaussianScene) -> dict[str, np.ndarray]:
    names = property_names(scene.sh_degree)
    return {name: scene_table(scene)[:, i] for i, name in enumerate(names)}


@pytest.mark.parametrize("encoding", ["binary_little_endian", "binary_big_endian", "ascii"])
@pytest.mark.parametrize("degree", [0, 1, 2, 3])
def test_round_trip_is_bit_exact(tmp_path, encoding, degree):
    scene = random_scene(degree=degree)
    path = tmp_path / "s.ply"
    write_ply(scene, path, encoding=encoding)
    back = read_ply(path)
    assert back.sh_degree == degree
    assert_same_scene(back, scene)


def test_written_file_is_the_inria_layout_plyfile_reads(tmp_path):
    scene = random_scene(degree=3)
    write_scene(scene, tmp_path / "s.ply")
    vertex = PlyData.read(str(tmp_path / "s.ply"))["vertex"]
    assert [p.name for p in vertex.properties] == property_names(3)
    assert property_names(3)[:9] == ["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"]
    assert all(p.val_dtype in ("f4", "float32") for p in vertex.properties)
    assert np.array_equal(vertex["f_rest_0"], scene.sh[:, 1, 0])  # channel-major: red first...
    assert np.array_equal(vertex["f_rest_15"], scene.sh[:, 1, 1])  # ...then green
    assert np.array_equal(vertex["f_rest_44"], scene.sh[:, 15, 2])
    assert np.array_equal(vertex["rot_0"], scene.quats[:, 0]) and not vertex["nx"].any()
    assert np.array_equal(vertex["opacity"], scene.opacity_logits)


def test_any_property_order_extra_properties_and_types(tmp_path):
    scene = random_scene(degree=1)
    columns = scene_columns(scene)
    names = list(columns)[::-1]  # reversed order
    rng = np.random.default_rng(3)
    shuffled = {name: columns[name] for name in rng.permutation(names)}
    shuffled["red"] = np.full(len(scene), 200)
    shuffled["confidence"] = rng.standard_normal(len(scene))
    types = {"red": "uchar", "confidence": "double", "x": "double", "y": "double", "z": "double"}
    write_raw_ply(tmp_path / "a.ply", shuffled, types=types, encoding="binary_big_endian")
    back = read_ply(tmp_path / "a.ply")
    assert_same_scene(back, scene)  # doubles holding float32 values convert exactly


def test_float16_properties_are_converted(tmp_path):
    scene = random_scene(degree=0)
    columns = scene_columns(scene)
    half = {name: columns[name].astype(np.float16) for name in columns}
    write_raw_ply(tmp_path / "h.ply", half, types={name: "half" for name in half})
    back = read_ply(tmp_path / "h.ply")
    assert np.array_equal(back.means, scene.means.astype(np.float16).astype(np.float32))
    assert np.array_equal(back.sh[:, 0], scene.sh[:, 0].astype(np.float16).astype(np.float32))


def test_other_elements_before_and_after_the_vertices(tmp_path):
    scene = random_scene(n=7, degree=0)
    vertex = np.empty(len(scene), dtype=[(n, "f4") for n in property_names(0)])
    for i, name in enumerate(property_names(0)):
        vertex[name] = scene_table(scene)[:, i]
    camera = np.zeros(2, dtype=[("fx", "f8"), ("id", "i4")])
    faces = np.array([([0, 1, 2],)], dtype=[("vertex_indices", "O")])
    PlyData([PlyElement.describe(camera, "camera"), PlyElement.describe(vertex, "vertex"),
             PlyElement.describe(faces, "face")]).write(str(tmp_path / "e.ply"))
    assert_same_scene(read_ply(tmp_path / "e.ply"), scene)


def test_crlf_header_and_end_header_inside_a_comment(tmp_path):
    scene = random_scene(n=3, degree=0)
    data = valid_bytes(scene)
    head, body = data.split(b"end_header\n", 1)
    head = head.replace(b"ply\n", b"ply\ncomment see end_header below\n", 1).replace(b"\n", b"\r\n")
    (tmp_path / "crlf.ply").write_bytes(head + b"end_header\r\n" + body)
    assert_same_scene(read_ply(tmp_path / "crlf.ply"), scene)


def test_rows_layout_matches_the_scene_reader(tmp_path):
    scene = random_scene(degree=2)
    write_ply(scene, tmp_path / "s.ply")
    names, table = read_ply_rows(tmp_path / "s.ply")
    want_names, want = scene_rows(scene)
    assert names == want_names and names[:4] == ["x", "y", "z", "f_dc_0"]
    assert table.dtype == np.float32 and table.flags.c_contiguous
    assert np.array_equal(table, want)


def test_dispatch_by_extension_and_content(tmp_path):
    scene = random_scene(degree=0)
    write_scene(scene, tmp_path / "s.ply")
    (tmp_path / "s.ply").rename(tmp_path / "renamed.splat")  # PLY content wins over the extension
    assert_same_scene(read_scene(tmp_path / "renamed.splat"), scene)
    with pytest.raises(SplatFileError, match="cannot write '.obj'"):
        write_scene(scene, tmp_path / "s.obj")


# ---------------------------------------------------------------------------- bad files
def valid_bytes(scene=None) -> bytes:
    import io

    scene = scene or random_scene(n=5, degree=0)
    header = f"ply\nformat binary_little_endian 1.0\nelement vertex {len(scene)}\n" + "".join(
        f"property float {n}\n" for n in property_names(0)) + "end_header\n"
    buf = io.BytesIO()
    buf.write(header.encode())
    buf.write(scene_table(scene).astype("<f4").tobytes())
    return buf.getvalue()


def error_for(tmp_path, data: bytes, name="bad.ply", **kwargs) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(SplatFileError) as info:
        read_scene(path, **kwargs)
    assert info.value.path == path
    assert str(info.value).startswith(f"{name}: ")
    return str(info.value)


def test_truncated_data(tmp_path):
    assert "truncated" in error_for(tmp_path, valid_bytes()[:-10])


def test_huge_vertex_count_is_refused_before_allocating(tmp_path):
    data = valid_bytes().replace(b"element vertex 5", b"element vertex 900000000000")
    message = error_for(tmp_path, data)
    assert "900000000000" in message and "truncated" in message


def test_missing_properties_are_named(tmp_path):
    data = valid_bytes().replace(b"property float opacity\n", b"property float alpha\n")
    assert "lacks the 3DGS properties opacity" in error_for(tmp_path, data)
    cloud = b"ply\nformat ascii 1.0\nelement vertex 1\nproperty float x\nproperty float y\nproperty float z\n" \
            b"property uchar red\nproperty uchar green\nproperty uchar blue\nend_header\n0 0 0 1 2 3\n"
    assert "plain colored point cloud" in error_for(tmp_path, cloud)


def test_wrong_number_of_sh_coefficients(tmp_path):
    columns = scene_columns(random_scene(n=3, degree=0))
    columns["f_rest_0"] = np.zeros(3)
    write_raw_ply(tmp_path / "r.ply", columns)
    with pytest.raises(SplatFileError, match="found 1 f_rest_"):
        read_scene(tmp_path / "r.ply")


def test_zero_splats(tmp_path):
    data = valid_bytes().split(b"end_header\n")[0].replace(b"vertex 5", b"vertex 0") + b"end_header\n"
    assert "no splats" in error_for(tmp_path, data)


def test_unknown_and_damaged_formats(tmp_path):
    assert "unknown splat file format '.xyz'" in error_for(tmp_path, b"hello", name="a.xyz")
    assert "not a PLY file" in error_for(tmp_path, b"\x00\x01garbage", name="a.ply")
    assert "no 'end_header'" in error_for(tmp_path, b"ply\nformat ascii 1.0\nelement vertex 3\n")
    assert "unknown PLY format" in error_for(tmp_path, valid_bytes().replace(b"binary_little_endian", b"zip"))
    assert "gzip stream" in error_for(tmp_path, b"\x1f\x8b\x08\x00", name="a.spz")
    with pytest.raises(SplatFileError, match="does not exist"):
        read_scene(tmp_path / "missing.ply")


def test_ascii_garbage(tmp_path):
    text = "ply\nformat ascii 1.0\nelement vertex 2\n" + "".join(
        f"property float {n}\n" for n in property_names(0)) + "end_header\n"
    row = " ".join(["1"] * 17)
    assert "non-numeric" in error_for(tmp_path, (text + row + "\n" + row.replace("1", "x", 1) + "\n").encode())
    assert "truncated" in error_for(tmp_path, (text + row + "\n").encode())


def test_nonfinite_values_are_counted_and_can_be_dropped(tmp_path):
    scene = random_scene(n=10, degree=1)
    scene.means[2, 1] = np.nan
    scene.sh[6, 3, 2] = np.inf
    write_ply(scene, tmp_path / "n.ply")
    with pytest.raises(SplatFileError, match="2 of 10 splats contain NaN or infinite"):
        read_scene(tmp_path / "n.ply")
    kept = np.ones(10, dtype=bool)
    kept[[2, 6]] = False
    assert_same_scene(read_scene(tmp_path / "n.ply", nonfinite="drop"), scene.subset(kept))
    names, table = read_ply_rows(tmp_path / "n.ply", nonfinite="drop")
    assert np.array_equal(table, scene_rows(scene.subset(kept))[1])
    assert len(read_scene(tmp_path / "n.ply", nonfinite="keep")) == 10
    with pytest.raises(SplatFileError, match="2 of 10 splats"):
        read_ply_rows(tmp_path / "n.ply")


def test_writing_nothing_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="no splats"):
        write_ply(random_scene(n=0), tmp_path / "e.ply")
    assert not list(tmp_path.iterdir())  # no half-written file left behind


def test_written_files_get_the_usual_permissions(tmp_path):
    import os

    mask = os.umask(0)
    os.umask(mask)
    write_ply(random_scene(5), tmp_path / "p.ply")
    assert os.stat(tmp_path / "p.ply").st_mode & 0o777 == 0o666 & ~mask  # not mkstemp's 0600
    assert [p.name for p in tmp_path.iterdir()] == ["p.ply"]
