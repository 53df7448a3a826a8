"""An adapter in the forms servers load: a PEFT folder (vLLM `--enable-lora`) and a GGUF LoRA (llama.cpp `--lora`),
converted without torch: the PEFT tensors (trained on the transformers conversion of the GGUF) renamed to the
GGUF's tensor names with gguf's own name map, as llama.cpp's convert_lora_to_gguf does."""

from __future__ import annotations

import json
import math
import re
import shutil
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from bot.core.errors import ModelError

_DTYPES = {"F32": np.float32, "F16": np.float16, "BF16": np.uint16}
_KEY = re.compile(r"^(?:base_model\.model\.)?(?P<module>.+)\.lora_(?P<ab>[AB])(?:\.default)?\.weight$")


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Every tensor of a .safetensors file as float32 (bf16 widened bit-exactly), without torch."""
    with path.open("rb") as fh:
        n = struct.unpack("<Q", fh.read(8))[0]
        header = json.loads(fh.read(n))
        data = fh.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if info["dtype"] not in _DTYPES:
            raise ModelError(f"{path}: tensor {name} has dtype {info['dtype']}; expected F32, F16 or BF16")
        a, b = info["data_offsets"]
        arr = np.frombuffer(data[a:b], dtype=_DTYPES[info["dtype"]]).reshape(info["shape"])
        if info["dtype"] == "BF16":
            arr = (arr.astype(np.uint32) << 16).view(np.float32)
        out[name] = arr.astype(np.float32)
    return out


def adapter_config(adapter_dir: Path) -> dict[str, Any]:
    p = adapter_dir / "adapter_config.json"
    if not p.is_file() or not (adapter_dir / "adapter_model.safetensors").is_file():
        raise ModelError(f"{adapter_dir}: not a PEFT adapter folder (adapter_config.json and "
                         "adapter_model.safetensors expected)")
    conf = json.loads(p.read_text(encoding="utf-8"))
    if conf.get("peft_type", "LORA") != "LORA" or conf.get("use_dora"):
        raise ModelError(f"{adapter_dir}: only plain LoRA adapters convert to GGUF (found {conf.get('peft_type')}"
                         + (", DoRA" if conf.get("use_dora") else "") + ")")
    if conf.get("modules_to_save"):
        raise ModelError(f"{adapter_dir}: modules_to_save {conf['modules_to_save']} cannot be served as a LoRA")
    return conf


_SCALAR = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}


class HeaderReader:
    """A GGUF file's header read in place, for the few values blogbot needs: gguf.GGUFReader indexes every
    vocabulary string and tensor (~17 s and ~0.7 GiB on the embedded model's 262k tokens). Metadata values a caller
    keeps are decoded, the others skipped by seeking; scalars are always read (they cost nothing)."""

    def __init__(self, fh: BinaryIO, path: Path) -> None:
        self.fh = fh
        if fh.read(4) != b"GGUF":
            raise ModelError(f"{path}: not a GGUF file")
        self.version = self.take("<I")
        self.n_tensors, self.n_kv = self.take("<Q"), self.take("<Q")

    def take(self, fmt: str) -> Any:
        return struct.unpack(fmt, self.fh.read(struct.calcsize(fmt)))[0]

    def string(self) -> str:
        return self.fh.read(self.take("<Q")).decode("utf-8", errors="replace")

    def value(self, kind: int, keep: bool = True) -> Any:
        if kind == 8:
            if keep:
                return self.string()
            self.fh.seek(self.take("<Q"), 1)
            return None
        if kind == 9:
            sub, n = self.take("<I"), self.take("<Q")
            if not keep and sub in _SCALAR:
                self.fh.seek(n * struct.calcsize(_SCALAR[sub]), 1)
                return None
            items = [self.value(sub, keep) for _ in range(n)]
            return items if keep else None
        return self.take(_SCALAR[kind])

    def metadata(self, wanted: set[str]) -> Iterator[tuple[str, Any]]:
        """(key, value) for every metadata entry in file order; the value is None for a string or array not in
        `wanted`. Stopping early leaves the file positioned inside the metadata."""
        for _ in range(self.n_kv):
            key = self.string()
            yield key, self.value(self.take("<I"), key in wanted)


def gguf_meta(path: Path, wanted: set[str]) -> dict[str, Any]:
    """The wanted metadata values of a GGUF file, read from its header only."""
    found: dict[str, Any] = {}
    with path.open("rb") as fh:
        for key, v in HeaderReader(fh, path).metadata(wanted):
            if key in wanted:
                found[key] = v
                if len(found) == len(wanted):
                    break
    return found


def gguf_arch(base_gguf: Path | None) -> tuple[str, int | None]:
    """(architecture, block count) of a GGUF base; gemma3 when no base is given."""
    if base_gguf is None:
        return "gemma3", None
    arch = gguf_meta(base_gguf, {"general.architecture"})["general.architecture"]
    return arch, int(gguf_meta(base_gguf, {f"{arch}.block_count"})[f"{arch}.block_count"])


def lora_targets(adapter_dir: Path, tensors: dict[str, np.ndarray], base_gguf: Path | None
                 ) -> tuple[str, dict[str, dict[str, np.ndarray]]]:
    """(architecture, {GGUF tensor base name (`blk.0.attn_q`): {"A": (r, in), "B": (out, r)}}): where each of a
    PEFT adapter's LoRA weights goes in a GGUF of the base's architecture (gemma3 when no base is given)."""
    import gguf

    arch, blocks = gguf_arch(base_gguf)
    layer_ids = [int(m.group(1)) for k in tensors if (m := re.search(r"\.layers\.(\d+)\.", k))]
    blocks = blocks or (max(layer_ids) + 1 if layer_ids else 1)
    arch_enum = next((a for a, n in gguf.MODEL_ARCH_NAMES.items() if n == arch), None)
    if arch_enum is None:
        raise ModelError(f"{base_gguf}: architecture {arch!r} is unknown to the gguf package")
    names = gguf.TensorNameMap(arch_enum, blocks)
    pairs: dict[str, dict[str, np.ndarray]] = {}
    for key, arr in tensors.items():
        m = _KEY.match(key)
        if not m:
            raise ModelError(f"{adapter_dir}: tensor {key} is not a LoRA A/B weight")
        target = names.get_name(m["module"]) or names.get_name(m["module"].removeprefix("model."))
        if target is None:
            raise ModelError(f"{adapter_dir}: no {arch} GGUF tensor for {m['module']}")
        pairs.setdefault(target, {})[m["ab"]] = arr
    for target, ab in pairs.items():
        if set(ab) != {"A", "B"}:
            raise ModelError(f"{adapter_dir}: {target} has lora_{'A' if 'A' in ab else 'B'} only")
    return arch, pairs


def to_gguf(adapter_dir: Path, out: Path, base_gguf: Path | None = None, dtype: str = "f16") -> Path:
    """Write adapter_dir as a GGUF LoRA at `out` (written to a temp file, then renamed). Tensors in F16 by default:
    llama.cpp reads the adapter once per token next to a 4-bit base, and F32 made decoding ~8 % slower."""
    import gguf

    conf = adapter_config(adapter_dir)
    arch, pairs = lora_targets(adapter_dir, read_safetensors(adapter_dir / "adapter_model.safetensors"), base_gguf)
    alpha, r = float(conf["lora_alpha"]), int(conf["r"])
    if conf.get("use_rslora"):  # llama.cpp scales by alpha / r; rsLoRA by alpha / sqrt(r)
        alpha *= math.sqrt(r)
    tmp = out.with_name(out.name + ".tmp")
    out.parent.mkdir(parents=True, exist_ok=True)
    w = gguf.GGUFWriter(str(tmp), arch)
    w.add_string("general.type", "adapter")
    w.add_string("adapter.type", "lora")
    w.add_float32("adapter.lora.alpha", alpha)
    w.add_string("general.name", f"blogbot adapter {adapter_dir.name}")
    for target, ab in sorted(pairs.items()):
        np_dtype = np.float16 if dtype == "f16" else np.float32
        w.add_tensor(f"{target}.weight.lora_a", np.ascontiguousarray(ab["A"], dtype=np_dtype))  # (r, in)
        w.add_tensor(f"{target}.weight.lora_b", np.ascontiguousarray(ab["B"], dtype=np_dtype))  # (out, r)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    tmp.replace(out)
    return out


def to_peft(adapter_dir: Path, out: Path, base_name: str | None = None) -> Path:
    """A clean PEFT folder for vLLM (`--lora-modules NAME=DIR`): weights, config (base recorded), template."""
    conf = adapter_config(adapter_dir)
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy2(adapter_dir / "adapter_model.safetensors", out / "adapter_model.safetensors")
    if base_name:
        conf["base_model_name_or_path"] = base_name
    (out / "adapter_config.json").write_text(json.dumps(conf, indent=2, ensure_ascii=False), encoding="utf-8")
    for extra in ("prompt_template.json", "metrics.json"):
        if (adapter_dir / extra).is_file():
            shutil.copy2(adapter_dir / extra, out / extra)
    return out
