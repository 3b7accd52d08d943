"""Model registry: where weights come from (a local folder/file or a Hugging Face hub repo).

One generic resolver, `resolve_model_source(source, allow_patterns=..., progress=...) -> Path`,
used by every model-backed stage (the video enhancer here, the stylizer's open_clip weights):

* a local path (folder or file) is checked and returned as it is, nothing is downloaded;
* a hub repo id ("org/name", or open_clip's "hf-hub:org/name") is fetched with
  `huggingface_hub.snapshot_download`, limited to `allow_patterns` (safetensors + configs),
  into `model_cache_dir()`, with download progress mapped onto the stage's progress callback.

Offline rules: when `HF_HUB_OFFLINE=1` (or `offline=True`) only what is already cached is used;
when the hub cannot be reached the short timeouts below end the attempt (never a hang) and the
cache is used. Anything missing raises `ModelNotAvailableError`, whose message names the model,
what is missing and how to get it. Weights are loaded as safetensors only and no remote code is
ever trusted (`trust_remote_code` is never passed; `use_safetensors=True` everywhere).

This module imports only the standard library at module level; huggingface_hub lazily.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from .errors import ModelNotAvailableError
from .progress import ProgressFn, report

CACHE_ENV = "GS_ENHANCER_MODEL_CACHE"  # overrides the default cache folder
ETAG_TIMEOUT_S = 5.0  # seconds to wait for the hub's metadata answer before falling back to the cache
DOWNLOAD_TIMEOUT_S = 20.0  # seconds without data before a file download is abandoned

CONFIG_PATTERNS = ("*.json", "*.txt")  # configs, tokenizer/processor files, model_index.json
SAFETENSORS_PATTERNS = ("*.safetensors",)

_cache_dir_override: Optional[Path] = None
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")  # org/name, as the hub spells repo ids


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

    def describe(self) -> str:
        where = self.location + (f" (revision {self.revision})" if self.revision else "")
        return where + (f", subfolder '{self.subfolder}'" if self.subfolder else "")


def is_local_location(location: str) -> bool:
    """Local unless it is 'hf-hub:...' or has the shape 'org/name' and no such path exists on disk."""
    if location.startswith("hf-hub:"):
        return False
    if os.path.exists(os.path.expanduser(location)):
        return True
    return _HUB_ID.fullmatch(location) is None


def set_model_cache_dir(path: Optional[str | Path]) -> None:
    """Set (or with None, reset) the folder hub downloads go to; the add-on's preferences call this."""
    global _cache_dir_override
    _cache_dir_override = Path(path).expanduser() if path else None


def model_cache_dir() -> Path:
    """Hub download cache: set_model_cache_dir() > $GS_ENHANCER_MODEL_CACHE > huggingface_hub's own cache."""
    if _cache_dir_override is not None:
        return _cache_dir_override
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def hub_offline() -> bool:
    """True when the user or the environment asked for no network (HF_HUB_OFFLINE=1)."""
    value = os.environ.get("HF_HUB_OFFLINE", "")
    return value.strip().lower() in ("1", "true", "yes", "on")


def resolve_model_source(
    source: ModelSource,
    *,
    allow_patterns: Sequence[str] = CONFIG_PATTERNS + SAFETENSORS_PATTERNS,
    progress: Optional[ProgressFn] = None,
    offline: Optional[bool] = None,
) -> Path:
    """Return a local path holding `source` (its subfolder applied), downloading what is allowed.

    Raises ModelNotAvailableError when the path does not exist, or the repo is neither cached nor
    downloadable now (offline, no network, gated without a token).
    """
    if source.repo_id is None:
        path = Path(source.location).expanduser()
        path = path / source.subfolder if source.subfolder else path
        if not path.exists():
            raise ModelNotAvailableError(f"Model folder or file not found: {path}. Check the path in the settings.")
        return path
    folder = _snapshot(source, list(allow_patterns), progress, hub_offline() if offline is None else offline)
    path = folder / source.subfolder if source.subfolder else folder
    if not path.exists():
        raise ModelNotAvailableError(f"The hub repo {source.describe()} has no '{source.subfolder}' folder.")
    return path


def _snapshot(source: ModelSource, allow_patterns: list[str], progress: Optional[ProgressFn], offline: bool) -> Path:
    os.environ.setdefault("HF_HUB_ETAG_TIMEOUT", str(int(ETAG_TIMEOUT_S)))
    os.environ.setdefault("HF_HUB_DOWNLOAD_TIMEOUT", str(int(DOWNLOAD_TIMEOUT_S)))
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError, HfHubHTTPError, IncompleteSnapshotError, LocalEntryNotFoundError, RepositoryNotFoundError,
    )

    patterns = [f"{source.subfolder}/{p}" for p in allow_patterns] if source.subfolder else allow_patterns
    if source.subfolder:
        patterns = patterns + ["model_index.json"]
    report(progress, 0.0, f"Looking for {source.repo_id}")
    try:
        folder = snapshot_download(
            source.repo_id,
            revision=source.revision,
            token=source.token,
            cache_dir=str(model_cache_dir()),
            allow_patterns=patterns,
            local_files_only=offline,
            etag_timeout=ETAG_TIMEOUT_S,
            tqdm_class=progress_tqdm_class(progress, f"Downloading {source.repo_id}"),
        )
    except GatedRepoError as exc:
        raise ModelNotAvailableError(_gated_message(source)) from exc
    except RepositoryNotFoundError as exc:
        raise ModelNotAvailableError(
            f"The hub has no repo {source.repo_id} (or it is private and no token was given)."
        ) from exc
    except (LocalEntryNotFoundError, IncompleteSnapshotError, OSError, HfHubHTTPError) as exc:
        raise ModelNotAvailableError(_missing_message(source, offline, exc)) from exc
    report(progress, 1.0, f"{source.repo_id} ready")
    return Path(folder)


def _missing_message(source: ModelSource, offline: bool, exc: Exception) -> str:
    why = "offline mode is on (HF_HUB_OFFLINE=1)" if offline else f"the hub could not be reached ({type(exc).__name__})"
    return (
        f"Model {source.describe()} is not in the local cache ({model_cache_dir()}) and {why}. "
        f"Download it once on a machine with internet (e.g. `huggingface-cli download {source.repo_id}`), "
        "or point the setting at a local folder in diffusers layout."
    )


def _gated_message(source: ModelSource) -> str:
    return (
        f"The hub repo {source.repo_id} is gated: accept its license on huggingface.co and provide an access "
        "token (log in with `huggingface-cli login` or set HF_TOKEN), or use a local copy of the weights."
    )


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


def require_files(folder: Path, names: Sequence[str], what: str) -> None:
    """Raise ModelNotAvailableError naming every file of `names` (globs allowed) missing in `folder`."""
    missing = [name for name in names if not any(folder.glob(name))]
    if missing:
        raise ModelNotAvailableError(
            f"{what} in {folder} is incomplete: missing {', '.join(missing)}. "
            "Use a folder in diffusers layout with safetensors weights (no .bin/.ckpt files are loaded)."
        )


def safetensors_file_in(folder: Path, what: str, preferred: Optional[str] = None) -> Path:
    """The weights file in `folder`: `preferred` when it is there, else the first *.safetensors by name."""
    if preferred and (folder / preferred).is_file():
        return folder / preferred
    require_files(folder, SAFETENSORS_PATTERNS, what)
    return sorted(folder.glob(SAFETENSORS_PATTERNS[0]))[0]