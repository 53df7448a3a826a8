"""A GGUF with the author's LoRA merged into its weights, so llama.cpp runs the adapter without the per-token LoRA
matmuls: the base copied tensor by tensor (metadata byte for byte, every other tensor — the big tied embedding table
too — with its own quantization), each tensor the LoRA targets dequantized, W + scale·B·A added and written in Q8_0.
Measured on the embedded model (bench/backends.py, two runs of 8 rounds) it decodes at 0.97-0.99x plain llama.cpp
against the run-time LoRA's 0.92-0.94x, so model.llamacpp_adapter: auto (the default) merges a small GGUF; it is
also the file for a server that cannot load a LoRA (`adapters export --format gguf-merged`).

Why Q8_0 and not the tensor's own type: a trained adapter's change to a weight is smaller than a 4–5-bit
quantization step, so writing W + ΔW back in such a type rounds much of the adapter away. bench/merge_gguf.py on five
trained adapters (next-token top-20 against base + the run-time LoRA): Q5_0 lost 38–76 % of the adapter's shift,
Q8_0 11–17 %, F16 (no rounding: llama.cpp's own numeric floor) 9–15 %."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from bot.core.errors import ModelError
from bot.core.fsio import atomic_path
from bot.voice.backends.lora_gguf import HeaderReader, adapter_config, lora_targets, read_safetensors

FORMAT = 1  # bump when the merged file's content changes for the same inputs (part of the cache key)
NOTE = "blogbot.merged_adapter"  # the metadata key naming the adapter merged into a file


@dataclass
class TensorInfo:
    name: str
    dims: list[int]  # ggml order: dims[0] is the row length
    qtype: int
    offset: int  # from the start of the data section


@dataclass
class Layout:
    version: int
    n_kv: int
    kv: bytes  # the metadata section, verbatim
    tensors: list[TensorInfo]
    alignment: int
    data_start: int


def read_layout(path: Path) -> Layout:
    """A GGUF's header, metadata (as raw bytes) and tensor index, read without loading the vocabulary."""
    with path.open("rb") as fh:
        r = HeaderReader(fh, path)
        if r.version < 2:
            raise ModelError(f"{path}: GGUF version {r.version} is too old (2 or later expected)")
        start, alignment = fh.tell(), 32
        for key, v in r.metadata(set()):
            if key == "general.alignment":
                alignment = int(v)
        end = fh.tell()
        fh.seek(start)
        kv = fh.read(end - start)
        tensors = []
        for _ in range(r.n_tensors):
            name = r.string()
            dims = [r.take("<Q") for _ in range(r.take("<I"))]
            tensors.append(TensorInfo(name, dims, r.take("<I"), r.take("<Q")))
        data_start = -(-fh.tell() // alignment) * alignment
    return Layout(r.version, r.n_kv, kv, tensors, alignment, data_start)


def nbytes(t: TensorInfo) -> int:
    from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType

    block, size = GGML_QUANT_SIZES[GGMLQuantizationType(t.qtype)]
    return int(np.prod(t.dims)) // block * size


def quantize(w: np.ndarray, qtype: int) -> bytes:
    """Rows of float32 weights in ggml type qtype (F32, F16, or a type the gguf package can write: Q8_0, Q5_0, …;
    not the k-quants)."""
    import gguf

    qt = gguf.GGMLQuantizationType(qtype)
    try:
        return gguf.quants.quantize(np.ascontiguousarray(w, dtype=np.float32), qt).tobytes()
    except NotImplementedError:
        raise ModelError(f"the gguf package cannot write {qt.name} tensors; merge to Q8_0") from None


def lora_pairs(adapter_dir: Path, base_gguf: Path) -> tuple[float, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """(scale, {GGUF tensor name (`blk.0.attn_q.weight`): (A, B)}): the change to each weight is scale·B·A, as
    llama.cpp applies the adapter at run time."""
    conf = adapter_config(adapter_dir)
    r = int(conf["r"])
    scale = float(conf["lora_alpha"]) / (r ** 0.5 if conf.get("use_rslora") else r)
    _, pairs = lora_targets(adapter_dir, read_safetensors(adapter_dir / "adapter_model.safetensors"), base_gguf)
    return scale, {f"{name}.weight": (ab["A"], ab["B"]) for name, ab in pairs.items()}


def merge(adapter_dir: Path, base_gguf: Path, out: Path, qtype: str = "Q8_0", note: str | None = None) -> Path:
    """Write base_gguf with the adapter merged at `out`, atomically (a temp file beside it, then renamed); the merged
    tensors in qtype (Q8_0; F16 or F32 for a check without rounding); `note` is recorded as blogbot.merged_adapter."""
    import gguf

    from bot.voice.backends.lora_gguf import gguf_meta

    if done := gguf_meta(base_gguf, {NOTE}).get(NOTE):
        raise ModelError(f"{base_gguf} already has an adapter merged into it ({done}); merge into the original base")
    scale, add = lora_pairs(adapter_dir, base_gguf)
    lay = read_layout(base_gguf)
    known = {t.name for t in lay.tensors}
    if missing := sorted(set(add) - known):
        raise ModelError(f"{adapter_dir}: the base {base_gguf.name} has no tensor {missing[0]}")
    want = gguf.GGMLQuantizationType[qtype.upper()]
    kv = lay.kv
    n_kv = lay.n_kv
    if note:
        key, val = NOTE.encode(), note.encode()
        kv += struct.pack("<Q", len(key)) + key + struct.pack("<I", 8) + struct.pack("<Q", len(val)) + val
        n_kv += 1
    new: list[TensorInfo] = []
    offset = 0
    for t in lay.tensors:
        info = TensorInfo(t.name, t.dims, int(want) if t.name in add else t.qtype, offset)
        new.append(info)
        offset += -(-nbytes(info) // lay.alignment) * lay.alignment
    with atomic_path(out) as tmp, base_gguf.open("rb") as src, tmp.open("wb") as dst:
        dst.write(b"GGUF" + struct.pack("<IQQ", lay.version, len(new), n_kv) + kv)
        for t in new:
            name = t.name.encode()
            dst.write(struct.pack("<Q", len(name)) + name + struct.pack("<I", len(t.dims))
                      + struct.pack(f"<{len(t.dims)}Q", *t.dims) + struct.pack("<IQ", t.qtype, t.offset))
        _pad(dst, lay.alignment)
        for old, t in zip(lay.tensors, new, strict=True):
            src.seek(lay.data_start + old.offset)
            if old.name in add:
                dst.write(_merged(old, src.read(nbytes(old)), scale, *add[old.name], t.qtype, adapter_dir))
            else:
                _copy(src, dst, nbytes(old))
            _pad(dst, lay.alignment)
    return out


def _merged(t: TensorInfo, raw: bytes, scale: float, a: np.ndarray, b: np.ndarray, qtype: int,
            adapter_dir: Path) -> bytes:
    """One weight (rows = outputs, row length = inputs) plus scale·B·A, with B (out, r) and A (r, in) as PEFT
    stores them."""
    import gguf

    rows, per_row = int(np.prod(t.dims[1:])), t.dims[0]
    if (b.shape[0], a.shape[1]) != (rows, per_row):
        raise ModelError(f"{adapter_dir}: the LoRA for {t.name} is {b.shape[0]}×{a.shape[1]}; the base "
                         f"weight is {rows}×{per_row}")
    w = gguf.quants.dequantize(np.frombuffer(raw, dtype=np.uint8), gguf.GGMLQuantizationType(t.qtype))
    w = w.reshape(rows, per_row).astype(np.float32)
    w += scale * (b @ a)
    return quantize(w, qtype)


def _copy(src: BinaryIO, dst: BinaryIO, n: int) -> None:
    while n > 0:
        chunk = src.read(min(n, 1 << 24))
        if not chunk:
            raise ModelError(f"{src.name}: truncated GGUF")
        dst.write(chunk)
        n -= len(chunk)


def _pad(fh: BinaryIO, alignment: int) -> None:
    fh.write(b"\0" * (-fh.tell() % alignment))


def prune(folder: Path, keep: int = 2) -> None:
    """Remove all but the `keep` most recently used merged GGUFs (each is as big as the base)."""
    files = sorted(folder.glob("*.gguf"), key=lambda p: p.stat().st_mtime, reverse=True)
    for p in files[keep:]:
        p.unlink(missing_ok=True)

