"""Bigger local models made easy: `blogbot model pull ID` (huggingface_hub: progress bars, resumable downloads, a disk
space check first, HF_ENDPOINT / HF_HUB_OFFLINE / HF_HOME respected) and `blogbot model list` (what is cached, its
size, the memory it needs, its licence). The only module that downloads models, and only when asked to."""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from bot.core.errors import InputError, ModelError

# Weights in the formats blogbot loads; a pull leaves out other frameworks' copies (tf, flax, onnx, pytorch .bin
# when safetensors exist) so a 7B model is not downloaded three times.
DEFAULT_PATTERNS = ["*.json", "*.safetensors", "*.model", "*.txt", "*.md", "*.jinja", "tokenizer*", "LICENSE*"]
MARGIN = 1.05  # free space wanted beyond the files themselves


@dataclass
class Cached:
    repo_id: str
    size_bytes: int
    files: int
    revision: str | None
    licence: str | None
    ram_gib: float
    path: Path


def need_ram_gib(size_bytes: int, gguf: bool) -> float:
    """Memory to run a model of this on-disk size: a GGUF maps its file (+ ~0.4 GiB context and runtime);
    safetensors in bf16 load once (+ ~20 % for activations and the KV cache)."""
    gib = size_bytes / 2**30
    return round(gib + 0.4 if gguf else gib * 1.2 + 0.3, 1)


def card_licence(snapshot: Path) -> str | None:
    """The `license:` of a model card (README.md front matter), or None."""
    readme = snapshot / "README.md"
    if not readme.is_file():
        return None
    m = re.search(r"^---\s*\n(.*?)\n---", readme.read_text(encoding="utf-8", errors="replace"), re.S)
    if not m:
        return None
    lic = re.search(r"^license:\s*(.+)$", m.group(1), re.M)
    name = re.search(r"^license_name:\s*(.+)$", m.group(1), re.M)
    value = (name or lic).group(1).strip().strip("'\"") if (name or lic) else None
    return value


def pull(repo_id: str, revision: str | None = None, patterns: list[str] | None = None,
         cache_dir: Path | None = None) -> Path:
    """Download (or finish downloading) a model into the Hugging Face cache; returns its snapshot folder."""
    from huggingface_hub import constants, snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError, RepositoryNotFoundError

    if repo_id.count("/") != 1:
        raise InputError(f"{repo_id!r} is not a Hugging Face model id (owner/name, e.g. Qwen/Qwen2.5-3B-Instruct)")
    if constants.HF_HUB_OFFLINE:
        raise InputError("HF_HUB_OFFLINE is set: nothing can be downloaded (unset it, or copy the model's "
                         "~/.cache/huggingface folder from a machine that has it)")
    allow = patterns or DEFAULT_PATTERNS
    try:
        plan = snapshot_download(repo_id, revision=revision, allow_patterns=allow, cache_dir=cache_dir,
                                 dry_run=True)
    except RepositoryNotFoundError:
        raise InputError(f"{repo_id}: no such model on {constants.ENDPOINT} (or it is gated: run "
                         "`huggingface-cli login` after accepting its licence on the model page)") from None
    except (HfHubHTTPError, LocalEntryNotFoundError, OSError) as exc:
        raise ModelError(f"{repo_id}: cannot reach {constants.ENDPOINT} (HF_ENDPOINT): {exc}") from None
    todo = sum(f.file_size or 0 for f in plan if f.will_download)
    root = Path(cache_dir or constants.HF_HUB_CACHE)
    root.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(root).free
    if todo * MARGIN > free:
        raise InputError(f"{repo_id}: {todo / 2**30:.1f} GiB to download but only {free / 2**30:.1f} GiB free "
                         f"under {root} (set HF_HOME to a bigger disk)")
    try:
        return Path(snapshot_download(repo_id, revision=revision, allow_patterns=allow, cache_dir=cache_dir))
    except (HfHubHTTPError, OSError) as exc:
        raise ModelError(f"{repo_id}: download stopped ({exc}); run the same command again to resume") from None


def cached(cache_dir: Path | None = None) -> list[Cached]:
    """Every model in the Hugging Face cache, largest first."""
    from huggingface_hub import constants, scan_cache_dir
    from huggingface_hub.errors import CacheNotFound

    try:
        info = scan_cache_dir(cache_dir or constants.HF_HUB_CACHE)
    except CacheNotFound:
        return []
    out = []
    for repo in info.repos:
        if repo.repo_type != "model":
            continue
        rev = max(repo.revisions, key=lambda r: r.last_modified, default=None)
        snap = Path(rev.snapshot_path) if rev else Path(repo.repo_path)
        gguf = any(f.file_name.endswith(".gguf") for f in (rev.files if rev else []))
        out.append(Cached(repo.repo_id, repo.size_on_disk, repo.nb_files, rev.commit_hash[:8] if rev else None,
                          card_licence(snap), need_ram_gib(repo.size_on_disk, gguf), snap))
    return sorted(out, key=lambda c: -c.size_bytes)


def hf_home() -> str:
    return os.environ.get("HF_HOME") or str(Path.home() / ".cache" / "huggingface")
