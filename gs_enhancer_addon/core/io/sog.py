"""PlayCanvas SOG (version 2): a meta.json and lossless WebP images, as a folder or a .sog zip. Read.

Layout (derived from playcanvas/splat-transform's reader): each image holds one splat per pixel,
row-major, RGBA.
  means:  files[0] low bytes, files[1] high bytes of 16-bit x, y, z in [mins, maxs] of
          sign(p) * log(|p| + 1) per axis;
  quats:  "smallest three": RGB are three components scaled by sqrt(2) into [0, 255], A is 252 +
          the index (w, x, y, z) of the largest, which is positive and restores unit length;
  scales: RGB index a 256-entry codebook of log-scales;
  sh0:    RGB index a 256-entry codebook of DC coefficients, A is the opacity (sigmoid) * 255;
  shN:    optional: files[0] a palette of `count` centroids (64 per row, (K-1) pixels each, RGB
          indexing a 256-entry codebook), files[1] the 16-bit palette label of each splat (R + 256 G).
Coordinates are those of the source .ply (RDF). The legacy layout without a "version" field is
not read. WebP is decoded with Pillow.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np

from ..errors import SplatFileError
from ..gaussians import GaussianScene, NonFinitePolicy, sh_coefficient_count
from ._common import finish

META = "meta.json"
MAX_META_BYTES = 16 << 20
_ALPHA_EPS = 0.5 / 255.0


def is_sog_folder(path: str | Path) -> bool:
    return Path(path).is_dir() and (Path(path) / META).is_file()


def read_sog(path: str | Path, nonfinite: NonFinitePolicy = "error") -> GaussianScene:
    """`path`: a .sog zip, a folder holding meta.json, or the meta.json itself."""
    path = Path(path)
    if path.is_dir():
        path = path / META
    if path.name == META:
        return finish(_decode(path, _FolderFiles(path.parent)), path, nonfinite)
    try:
        with zipfile.ZipFile(path) as archive:
            return finish(_decode(path, _ZipFiles(archive)), path, nonfinite)
    except FileNotFoundError:
        raise SplatFileError(path, "the file does not exist.") from None
    except (zipfile.BadZipFile, EOFError) as exc:
        raise SplatFileError(path, f"a .sog file is a zip archive; this one cannot be opened ({exc}).") from None
    except OSError as exc:
        raise SplatFileError(path, f"the file cannot be read ({exc.strerror or exc}).") from None


class _FolderFiles:
    def __init__(self, folder: Path):
        self.folder = folder

    def read(self, path, name: str, limit: int) -> bytes:
        if Path(name).name != name:  # meta.json names files beside it, never elsewhere
            raise SplatFileError(path, f"SOG meta.json names '{name}', which is not a file beside it.")
        try:
            with open(self.folder / name, "rb") as f:
                data = f.read(limit + 1)
        except OSError as exc:
            raise SplatFileError(path, f"the SOG file '{name}' cannot be read ({exc.strerror or exc}).") from None
        if len(data) > limit:
            raise SplatFileError(path, f"'{name}' is larger than {limit:,} bytes.")
        return data


class _ZipFiles:
    def __init__(self, archive: zipfile.ZipFile):
        self.archive = archive

    def read(self, path, name: str, limit: int) -> bytes:
        try:
            info = self.archive.getinfo(name)
        except KeyError:
            raise SplatFileError(path, f"the .sog archive lacks '{name}'.") from None
        if info.file_size > limit:
            raise SplatFileError(path, f"'{name}' in the .sog archive is larger than {limit:,} bytes.")
        try:
            return self.archive.read(info)
        except (zipfile.BadZipFile, ValueError, NotImplementedError, EOFError, OSError) as exc:
            raise SplatFileError(path, f"'{name}' in the .sog archive is damaged ({exc}).") from None


def _decode(path: Path, files) -> GaussianScene:
    try:
        meta = json.loads(files.read(path, META, MAX_META_BYTES))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SplatFileError(path, f"SOG meta.json is not valid JSON ({exc}).") from None
    if not isinstance(meta, dict):
        raise SplatFileError(path, "SOG meta.json must hold an object.")
    version = meta.get("version")
    if version is None:
        raise SplatFileError(path, "legacy SOG (version 1, meta.json without a 'version') is not supported; "
                                   "re-export it with a current SuperSplat or splat-transform.")
    if version != 2:
        raise SplatFileError(path, f"SOG version {version!r} is not supported (version 2 is).")
    try:
        return _decode_v2(path, files, meta)
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise SplatFileError(path, f"SOG meta.json is missing or has wrong entries ({type(exc).__name__}: {exc}).") from None


def _decode_v2(path: Path, files, meta: dict) -> GaussianScene:
    n = int(meta["count"])
    if n <= 0:
        raise SplatFileError(path, "the file contains no splats (the SOG count is 0).")
    limit = 64 * n + (1 << 20)  # a WebP of n RGBA pixels, generously; bounds what is read before decoding
    image = _ImageReader(path, files, n, limit)
    lo, hi = image(meta["means"]["files"][0]), image(meta["means"]["files"][1])
    mins, maxs = np.asarray(meta["means"]["mins"], np.float64), np.asarray(meta["means"]["maxs"], np.float64)
    q = (lo[:, :3].astype(np.float64) + 256.0 * hi[:, :3]) / 65535.0
    v = mins + (maxs - mins) * q
    means = (np.sign(v) * np.expm1(np.abs(v))).astype(np.float32)

    scales = _codebook(path, meta["scales"])[image(meta["scales"]["files"][0])[:, :3]]
    sh0 = image(meta["sh0"]["files"][0])
    alpha = np.clip(sh0[:, 3] / 255.0, _ALPHA_EPS, 1.0 - _ALPHA_EPS)
    degree = int(meta["shN"]["bands"]) if meta.get("shN") else 0
    if degree not in (0, 1, 2, 3):
        raise SplatFileError(path, f"SOG shN with {degree} bands is not supported (1-3 are).")
    k = sh_coefficient_count(degree)
    sh = np.empty((n, k, 3), dtype=np.float32)
    sh[:, 0] = _codebook(path, meta["sh0"])[sh0[:, :3]]
    if degree:
        sh[:, 1:] = _decode_shn(path, files, meta["shN"], n, k - 1, limit)
    return GaussianScene(
        means=means,
        quats=_unpack_quats(path, image(meta["quats"]["files"][0])),
        log_scales=scales.astype(np.float32),
        opacity_logits=np.log(alpha / (1.0 - alpha)).astype(np.float32),
        sh=sh,
    )


def _decode_shn(path, files, shn: dict, n: int, rest: int, limit: int) -> np.ndarray:  # [n, rest, 3]
    palette = int(shn["count"])
    codebook = _codebook(path, shn)
    centroids = _ImageReader(path, files, 0, 64 * palette * rest + (1 << 20)).full(shn["files"][0])
    labels = _ImageReader(path, files, n, limit)(shn["files"][1])
    label = labels[:, 0].astype(np.int64) + 256 * labels[:, 1].astype(np.int64)  # numpy 2 keeps uint8: widen both
    if palette <= 0 or label.max() >= palette:
        raise SplatFileError(path, f"SOG shN labels reach {int(label.max())}; the palette holds {palette}.")
    if centroids.shape[1] != 64 * rest or centroids.shape[0] * 64 < palette:
        raise SplatFileError(path, f"the SOG shN centroid image is {centroids.shape[1]}x{centroids.shape[0]}; "
                                   f"{palette} centroids of {rest} coefficients need {64 * rest} pixels per row.")
    table = codebook[centroids[:, :, :3].reshape(-1, rest, 3)]  # [rows * 64, rest, 3]: the palette, decoded once
    return np.take(table, label, axis=0)  # whole rows per splat


def _codebook(path, entry: dict) -> np.ndarray:  # [256] float32
    book = np.asarray(entry["codebook"], dtype=np.float32)
    if book.shape != (256,):
        raise SplatFileError(path, f"a SOG codebook has {book.size} entries; 256 are expected.")
    return book


def _unpack_quats(path, rgba: np.ndarray) -> np.ndarray:  # [n, 4] uint8 -> [n, 4] wxyz
    tag = rgba[:, 3].astype(np.intp) - 252
    if tag.min() < 0:
        raise SplatFileError(path, "the SOG rotation image holds invalid entries (alpha below 252).")
    abc = (rgba[:, :3].astype(np.float32) / 255.0 * 2.0 - 1.0) / np.float32(np.sqrt(2.0))
    slots = np.array([[1, 2, 3], [0, 2, 3], [0, 1, 3], [0, 1, 2]])[tag]
    quats = np.empty((len(rgba), 4), dtype=np.float32)
    quats[np.arange(len(rgba))[:, None], slots] = abc
    quats[np.arange(len(rgba)), tag] = np.sqrt(np.clip(1.0 - (abc * abc).sum(axis=1), 0.0, None))
    return quats


class _ImageReader:
    """Decodes one WebP image named in meta.json to RGBA uint8; __call__ gives the first n pixels."""

    def __init__(self, path, files, n: int, limit: int):
        self.path, self.files, self.n, self.limit = path, files, n, limit

    def full(self, name: str) -> np.ndarray:  # [H, W, 4] uint8
        if not isinstance(name, str):
            raise SplatFileError(self.path, "SOG meta.json lists a file name that is not a string.")
        image_module = _pillow(self.path)
        data = self.files.read(self.path, name, self.limit)
        try:
            with image_module.open(io.BytesIO(data)) as image:
                if image.width * image.height * 4 > 4 * self.limit:
                    raise SplatFileError(self.path, f"the SOG image '{name}' is {image.width}x{image.height}: "
                                                    "larger than the splat count allows.")
                return np.asarray(image.convert("RGBA"))
        except SplatFileError:
            raise
        except Exception as exc:  # Pillow raises many types for damaged images
            raise SplatFileError(self.path, f"the SOG image '{name}' cannot be decoded ({exc}).") from None

    def __call__(self, name: str) -> np.ndarray:  # [n, 4] uint8
        pixels = self.full(name).reshape(-1, 4)
        if len(pixels) < self.n:
            raise SplatFileError(self.path, f"the SOG image '{name}' has {len(pixels):,} pixels for {self.n:,} splats.")
        return pixels[:self.n]


def _pillow(path):
    try:
        from PIL import Image
    except ImportError:
        raise SplatFileError(path, "SOG files hold WebP images, which need the Pillow package "
                                   "(pip install Pillow); it is not installed here.") from None
    return Image
