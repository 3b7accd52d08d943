"""Model registry: where weights come from, which exact files each model needs, and the checks.

Every model-backed stage names the exact files its loader opens (`ModelFiles`: configs and
`.safetensors` weights, relative to the model's folder or hub repo). One resolver,
`resolve_model(source, files, cache_dir=..., offline=...) -> Path`, turns a `ModelSource` into a
local folder holding all of them:

* a local folder is checked in place; nothing is downloaded;
* a hub repo ("org/name", or open_clip's "hf-hub:org/name") is looked up, without network, in
  the download folder (`cache_dir`, else $GS_ENHANCER_MODEL_CACHE, else the standard Hugging Face
  cache) and then in the standard Hugging Face cache ($HF_HUB_CACHE, else $HF_HOME/hub): the
  first snapshot holding every listed file is used as it is. Only when none does, and the network
  is allowed, exactly the listed files are downloaded (`allow_patterns` = the list) into the
  download folder.

Every listed file is checked before any loading: present, configs parse as JSON, and each
safetensors header is read with `safetensors.safe_open` (a truncated or corrupted file is caught
here). Whether or not huggingface_hub cached its `trees/` listing does not matter: the list is
ours. Anything missing or bad raises `ModelNotAvailableError` naming the model, the file(s) and
the command that fixes it (`hf download <repo> --include <file> ...`, `hf auth login` for gated
repos). Weights are only ever read from the named safetensors files; nothing is unpickled and
no remote code is trusted.

This module imports only the standard library at module level; huggingface_hub and safetensors
lazily.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator, Optional, Sequence

from .errors import ModelNotAvailableError, first_line
from .progress import ProgressFn, report

DEFAULT_ENHANCER_REPO = "stabilityai/stable-video-diffusion-img2vid-xt"  # gated; UNet, VAE, CLIP image encoder
CACHE_ENV = "GS_ENHANCER_MODEL_CACHE"  # overrides the default download folder
ETAG_TIMEOUT_S = 5.0  # seconds to wait for the hub's metadata answer before giving up on the network

_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")  # org/name, as the hub spells repo ids
_COMMIT = re.compile(r"[0-9a-f]{40}")


@dataclass(frozen=True)
class ModelSource:
    """Where one model (or one pipeline folder) comes from."""

    location: str  # a hub repo id ("org/name" or "hf-hub:org/name") or a local folder/file path
    revision: Optional[str] = None  # hub branch, tag or commit; None = the repo's default branch
    token: Optional[str] = None  # hub token for gated repos (SVD needs one); None = huggingface_hub's own login
    subfolder: Optional[str] = None  # component folder inside the location (e.g. "unet")

    @property
    def repo_id(self) -> Optional[str]:
        """The hub repo id, or None when this source is a local path."""
        if is_local_location(self.location):
            return None
        return self.location[len("hf-hub:"):] if self.location.startswith("hf-hub:") else self.location

    @property
    def local_path(self) -> Optional[Path]:
        """The local folder/file (subfolder applied), or None for a hub repo."""
        if self.repo_id is not None:
            return None
        path = Path(self.location).expanduser()
        return path / self.subfolder if self.subfolder else path

    def describe(self) -> str:
        where = self.location + (f" (revision {self.revision})" if self.revision else "")
        return where + (f", subfolder '{self.subfolder}'" if self.subfolder else "")


@dataclass(frozen=True)
class ModelFiles:
    """The exact files one model's loader opens, relative to its folder (or its hub repo)."""

    name: str  # what the user calls the model in messages: "the enhancer (Stable Video Diffusion)"
    files: tuple[str, ...]  # configs (*.json) and weights (*.safetensors), forward slashes
    gated: bool = False  # the hub repo needs an accepted licence and a login (SVD)


@dataclass(frozen=True)
class ModelLocation:
    """Where a model was found: a local folder, or a snapshot in one of the hub caches."""

    name: str  # ModelFiles.name
    folder: Optional[Path]  # the folder holding the files; None = not found
    cache: Optional[Path]  # the hub cache it was found in; None for a local folder or when not found
    missing: tuple[str, ...] = ()  # files still missing (when not found)

    def describe(self) -> str:
        if self.folder is None:
            shown = ", ".join(self.missing[:3]) + (f" and {len(self.missing) - 3} more" if len(self.missing) > 3 else "")
            return f"{self.name}: not found (missing {shown})"
        if self.cache is not None:
            return f"{self.name}: in the cache {self.cache}"
        return f"{self.name}: local {'folder' if self.folder.is_dir() else 'file'} {self.folder}"


def is_local_location(location: str) -> bool:
    """Local unless it is 'hf-hub:...' or has the shape 'org/name' and no such path exists on disk."""
    if location.startswith("hf-hub:"):
        return False
    if os.path.exists(os.path.expanduser(location)):
        return True
    return _HUB_ID.fullmatch(location) is None


def standard_hub_cache() -> Path:
    """The standard Hugging Face cache, read from the environment now: $HF_HUB_CACHE, else
    $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub (the same
    order as huggingface_hub's constants, which are frozen at its import)."""
    for name in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(name):
            return Path(os.environ[name]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache")
    return Path(xdg).expanduser() / "huggingface" / "hub"


def model_cache_dir(cache_dir: Optional[str | Path] = None) -> Path:
    """Where downloads go: `cache_dir` (the add-on's preference or its user folder), else
    $GS_ENHANCER_MODEL_CACHE, else the standard Hugging Face cache."""
    if cache_dir:
        return Path(cache_dir).expanduser()
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    return standard_hub_cache()


def search_caches(cache_dir: Optional[str | Path] = None) -> list[Path]:
    """The hub caches looked in, in order: the download folder, then the standard cache."""
    caches = [model_cache_dir(cache_dir), standard_hub_cache()]
    return [c for i, c in enumerate(caches) if c not in caches[:i]]


def hub_offline() -> bool:
    """True when the user or the environment asked for no network (HF_HUB_OFFLINE=1)."""
    value = os.environ.get("HF_HUB_OFFLINE", "")
    return value.strip().lower() in ("1", "true", "yes", "on")


# --- finding a model's files -------------------------------------------------------------------

def cached_snapshot(cache: Path, repo_id: str, revision: Optional[str] = None) -> Optional[Path]:
    """The snapshot folder of `repo_id` at `revision` in the hub cache `cache` (huggingface_hub's
    layout: models--org--name/refs/<branch> -> snapshots/<commit>/), or None; no network."""
    storage = cache / ("models--" + repo_id.replace("/", "--"))
    revision = revision or "main"
    if _COMMIT.fullmatch(revision):
        commit = revision
    else:
        ref = storage / "refs" / revision
        commit = ref.read_text().strip() if ref.is_file() else None
    folder = storage / "snapshots" / commit if commit else None
    return folder if folder is not None and folder.is_dir() else None


def missing_files(folder: Path, files: ModelFiles) -> list[str]:
    """The listed files that are not in `folder` (a dangling snapshot link counts as missing)."""
    return [name for name in files.files if not (folder / name).is_file()]


def locate_model(source: ModelSource, files: ModelFiles, cache_dir: Optional[str | Path] = None) -> ModelLocation:
    """Where `source` is complete now, without network or loading: its local folder, or the first
    hub cache (see `search_caches`) whose snapshot holds every listed file."""
    return next(iter(_complete_copies(source, files, cache_dir)))


def _complete_copies(source: ModelSource, files: ModelFiles, cache_dir: Optional[str | Path]) -> list[ModelLocation]:
    """Every complete copy in search order (files present, not yet checked); when there is none,
    one entry with folder None and the fewest missing files of any copy."""
    local = source.local_path
    if local is not None:
        missing = tuple(missing_files(local, files)) if local.is_dir() else files.files
        return [ModelLocation(files.name, None if missing else local, None, missing)]
    complete, fewest = [], files.files
    for cache in search_caches(cache_dir):
        snapshot = cached_snapshot(cache, source.repo_id, source.revision)
        if snapshot is None:
            continue
        folder = snapshot / source.subfolder if source.subfolder else snapshot
        missing = tuple(missing_files(folder, files))
        if missing:
            fewest = min(fewest, missing, key=len)
        else:
            complete.append(ModelLocation(files.name, folder, cache))
    return complete or [ModelLocation(files.name, None, None, fewest)]


def _sound_copy(source: ModelSource, files: ModelFiles, cache_dir: Optional[str | Path]) -> ModelLocation:
    """The first complete copy whose files all pass `check_files` (a damaged copy in one cache does
    not hide a sound one in the other); raises the first copy's damage when none is sound."""
    copies = _complete_copies(source, files, cache_dir)
    first_error: Optional[ModelNotAvailableError] = None
    for copy in copies:
        if copy.folder is None:
            return copy
        try:
            check_files(copy.folder, files, source)
            return copy
        except ModelNotAvailableError as exc:
            first_error = first_error or exc
    raise first_error


def resolve_model(
    source: ModelSource,
    files: ModelFiles,
    *,
    cache_dir: Optional[str | Path] = None,
    progress: Optional[ProgressFn] = None,
    offline: Optional[bool] = None,
) -> Path:
    """A local folder holding every file of `files` for `source`, checked (see module doc).

    Hub repos: a complete cached snapshot is used without network; otherwise, unless offline,
    exactly `files` are downloaded into `model_cache_dir(cache_dir)`. Raises
    ModelNotAvailableError naming the model, the missing or bad files and the fix.
    """
    offline = hub_offline() if offline is None else offline
    local = source.local_path
    if local is not None:
        if not local.is_dir():
            raise ModelNotAvailableError(f"{_title(files)}: the folder {local} was not found. "
                                         "Check the path in the settings.")
        missing = missing_files(local, files)
        if missing:
            raise ModelNotAvailableError(
                f"{_title(files)}: the folder {local} is missing {', '.join(missing)}. Only these exact "
                "files are loaded (safetensors weights; .bin/.pt/.ckpt files are never read).")
        check_files(local, files)
        return local
    found = _sound_copy(source, files, cache_dir)
    if found.folder is not None:
        return found.folder
    if offline:
        raise ModelNotAvailableError(_missing_message(source, files, found.missing, cache_dir, "offline mode is on"))
    folder = _download(source, files, cache_dir, progress)
    check_files(folder, files, source)
    return folder


def check_model(source: ModelSource, files: ModelFiles, *, cache_dir: Optional[str | Path] = None,
                offline: bool = True) -> None:
    """The pre-flight check, without network: offline, `resolve_model` (everything must be there);
    online, the files already present are checked and a hub model not cached yet is left for the
    download."""
    if offline or source.local_path is not None:
        resolve_model(source, files, cache_dir=cache_dir, offline=True)
    else:
        _sound_copy(source, files, cache_dir)  # raises when every cached copy is damaged


def check_files(folder: Path, files: ModelFiles, source: Optional[ModelSource] = None) -> None:
    """Raise ModelNotAvailableError for the first listed file that is unreadable: a config that is
    not JSON, or a safetensors file whose header does not parse or does not cover the file
    (truncated downloads). Reads headers only, never the tensors."""
    for name in files.files:
        problem = file_problem(folder / name)
        if problem:
            fix = (f"Download it again: {fix_command(source, [name], files, force=True)}." if source and source.repo_id
                   else "Replace it with a complete copy.")
            raise ModelNotAvailableError(f"{_title(files)}: {folder / name} is damaged ({problem}). {fix}")


def file_problem(path: Path) -> Optional[str]:
    """Why `path` cannot be loaded (a short reason), or None when its header/JSON is sound."""
    try:
        if path.suffix == ".json":
            json.loads(path.read_text(encoding="utf-8"))
        elif path.suffix == ".safetensors":
            from safetensors import safe_open

            with safe_open(str(path), framework="pt") as handle:
                handle.keys()
        else:
            return "not a .json or .safetensors file"
    except Exception as exc:  # noqa: BLE001 - any failure to read is reported as the file's problem
        return first_line(exc)[:200]
    return None


def check_weights_file(path: Path, what: str) -> None:
    """A single weights file named by the user: it must be a sound .safetensors file."""
    if path.suffix != ".safetensors":
        raise ModelNotAvailableError(f"{_title_of(what)} must be a .safetensors file, not '{path.name}' (pickled "
                                     ".bin/.pt/.pth weights are never loaded).")
    if not path.is_file():
        raise ModelNotAvailableError(f"{_title_of(what)} {path} was not found. Check the path in the settings.")
    problem = file_problem(path)
    if problem:
        raise ModelNotAvailableError(f"{_title_of(what)} {path} is damaged ({problem}). Replace it with a complete copy.")


def load_weights_strictly(model, state: dict, path: Path, what: str) -> None:
    """`model.load_state_dict(state)` that fails with a short ModelNotAvailableError (the file,
    counts and one example key) instead of torch's list of every key."""
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # shape mismatches
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        raise ModelNotAvailableError(f"{path} does not fit the {what} architecture: "
                                     f"{lines[1] if len(lines) > 1 else lines[0]}"[:400]) from exc
    if missing or unexpected:
        example = lambda keys: f" (e.g. {keys[0]})" if keys else ""  # noqa: E731
        raise ModelNotAvailableError(
            f"{path} does not hold {what} weights for this architecture: {len(missing)} missing"
            f"{example(missing)}, {len(unexpected)} unexpected{example(unexpected)}.")


def fix_command(source: Optional[ModelSource], names: Sequence[str], files: ModelFiles, force: bool = False) -> str:
    """The `hf` command that fetches `names` (paths inside the model) from the hub repo."""
    if source is None or source.repo_id is None:
        return "put the files in the folder"
    prefix = f"{source.subfolder}/" if source.subfolder else ""
    command = f"hf download {source.repo_id}"
    command += f" --revision {source.revision}" if source.revision else ""
    command += "".join(f" --include {prefix}{name}" for name in names)
    command += " --force-download" if force else ""
    login = (f"accept the licence at https://huggingface.co/{source.repo_id} and run `hf auth login`, then "
             if files.gated else "")
    return f"{login}`{command}`"


def _title(files: ModelFiles) -> str:
    return _title_of(files.name)


def _title_of(what: str) -> str:
    return what[:1].upper() + what[1:]


def _missing_message(source: ModelSource, files: ModelFiles, missing: Sequence[str],
                     cache_dir: Optional[str | Path], why: str) -> str:
    caches = " and ".join(str(c) for c in search_caches(cache_dir))
    return (f"{_title(files)} ({source.describe()}) is not complete in the model caches ({caches}): missing "
            f"{', '.join(missing)}; {why}. To get it, on a machine with internet: "
            f"{fix_command(source, missing, files)} (it goes into the standard Hugging Face cache, which is "
            "searched too), or use the add-on's Download Models button, or point the setting at a local folder.")


def _download(source: ModelSource, files: ModelFiles, cache_dir: Optional[str | Path],
              progress: Optional[ProgressFn]) -> Path:
    """Fetch exactly `files` from the hub into the download folder; returns the (sub)folder.

    The repo's file list is read first (one metadata call), so a file the repo lacks is named as
    such and nothing is downloaded from a repo that cannot serve them all."""
    from huggingface_hub import HfApi, snapshot_download

    prefix = f"{source.subfolder}/" if source.subfolder else ""
    wanted = [prefix + name for name in files.files]
    report(progress, 0.0, f"Looking up {files.name} on the hub ({source.repo_id})")
    try:
        info = HfApi().model_info(source.repo_id, revision=source.revision, token=source.token, timeout=ETAG_TIMEOUT_S)
        listed = {sibling.rfilename for sibling in info.siblings or ()}
        absent = [name for name, path in zip(files.files, wanted) if path not in listed]
        if absent:
            raise ModelNotAvailableError(
                f"{_title(files)}: the hub repo {source.describe()} has no {', '.join(absent)}. Only these exact "
                "files are loaded (safetensors weights; pickled .bin/.pt files are never read): use a repo or "
                "folder that has them.")
        snapshot = Path(snapshot_download(
            source.repo_id, revision=info.sha or source.revision, token=source.token,
            cache_dir=str(model_cache_dir(cache_dir)), allow_patterns=wanted, etag_timeout=ETAG_TIMEOUT_S,
            tqdm_class=progress_tqdm_class(progress, f"Downloading {source.repo_id}")))
    except ModelNotAvailableError:
        raise
    except Exception as exc:  # noqa: BLE001 - huggingface_hub's and httpx's errors, in words (others re-raised)
        error = _hub_error(source, files, cache_dir, exc)
        if error is exc:
            raise
        raise error from exc
    folder = snapshot / source.subfolder if source.subfolder else snapshot
    missing = missing_files(folder, files)
    if missing:
        raise ModelNotAvailableError(_missing_message(source, files, missing, cache_dir,
                                                      "the download did not complete"))
    report(progress, 1.0, f"{source.repo_id} ready")
    return folder


def _hub_error(source: ModelSource, files: ModelFiles, cache_dir: Optional[str | Path],
               exc: Exception) -> Exception:
    """huggingface_hub's exception as a ModelNotAvailableError to act on; anything else as it is."""
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError, RevisionNotFoundError

    if isinstance(exc, GatedRepoError):
        return ModelNotAvailableError(
            f"{_title(files)}: the hub repo {source.repo_id} is gated. To get it: "
            f"{fix_command(source, files.files, replace(files, gated=True))}, "
            "or set a token in the add-on preferences.")
    if isinstance(exc, (RepositoryNotFoundError, RevisionNotFoundError)):
        return ModelNotAvailableError(f"{_title(files)}: the hub has no repo {source.describe()} (or it is private "
                                      "and no token was given). Check the name in the settings.")
    if isinstance(exc, OSError) or type(exc).__module__.split(".")[0] in ("httpx", "httpcore"):  # no network
        missing = locate_model(source, files, cache_dir).missing
        return ModelNotAvailableError(_missing_message(
            source, files, missing, cache_dir, f"the hub could not be reached ({type(exc).__name__})"))
    return exc


def progress_tqdm_class(progress: Optional[ProgressFn], message: str):
    """A tqdm subclass (for huggingface_hub's `tqdm_class`) that reports byte progress to `progress`."""
    from tqdm.auto import tqdm

    class _ReportingTqdm(tqdm):
        def __init__(self, *args, **kwargs):
            kwargs["disable"] = False
            kwargs["file"] = open(os.devnull, "w")  # noqa: SIM115 - closed in close()
            super().__init__(*args, **kwargs)

        def update(self, n=1):
            result = super().update(n)
            if self.total and (self.unit == "B" or "bytes" in str(self.desc).lower()):
                report(progress, self.n / self.total, f"{message}: {self.n / 1e6:.0f} / {self.total / 1e6:.0f} MB")
            return result

        def close(self):
            file = self.fp if hasattr(self, "fp") else None
            super().close()
            if file is not None and not file.closed:
                file.close()

    return _ReportingTqdm


@contextlib.contextmanager
def quiet_loading(verbose: bool = False) -> Iterator[None]:
    """While loading or saving weights, hide transformers' "Loading weights" / "Writing model
    shards" progress bars (its switch is process-wide: the previous state is restored after).
    `verbose=True` leaves them on."""
    from transformers.utils import logging as hf_logging

    was_on = hf_logging.is_progress_bar_enabled()
    if was_on and not verbose:
        hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_on and not verbose:
            hf_logging.enable_progress_bar()
