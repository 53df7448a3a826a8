"""The CPU fast path of drafting: the adapter merged into a cached copy of the base per version, the output
layer restricted to the author's writing vocabulary, and dynamic int8 linears (~4× the naive fp32 + unmerged path)."""

from __future__ import annotations

import hashlib
import math
import re
import shutil
from pathlib import Path
from typing import Any

from loguru import logger

from bot.core.config import Config
from bot.core.errors import ModelError


def adapter_key(adapter_dir: Path, base_identity: str) -> str:
    h = hashlib.sha1(base_identity.encode())
    for f in ("adapter_model.safetensors", "adapter_model.bin", "adapter_config.json"):
        p = adapter_dir / f
        if p.exists():
            h.update(p.read_bytes())
    return h.hexdigest()[:16]


def merged_path(cfg: Config, base: Any, adapter_dir: Path) -> Path:
    """A copy of the base with the adapter merged in, built once per adapter version and cached."""
    from bot.voice import model as bm

    root = bm.cache_root(cfg) / "merged"
    target = root / f"{adapter_dir.name}-{adapter_key(adapter_dir, base.identity)}"
    if (target / "config.json").exists():
        return target
    with bm.file_lock(root / ".merge.lock"):
        if (target / "config.json").exists():
            return target
        import torch
        from peft import PeftModel

        logger.info("merging adapter {} into a cached copy of the base", adapter_dir.name)
        model, tok = bm.load_model(cfg, base.path, dtype=torch.bfloat16)
        try:
            model = PeftModel.from_pretrained(model, str(adapter_dir)).merge_and_unload()
        except Exception as exc:
            raise ModelError(f"{adapter_dir}: cannot load the adapter: {exc}") from exc
        tmp = target.with_name(f".{target.name}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        model.save_pretrained(str(tmp))
        tok.save_pretrained(str(tmp))
        tmp.rename(target)
        # keep the three most recently built merges
        merged = sorted((p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")),
                        key=lambda p: p.stat().st_mtime)
        for old in merged[:-3]:
            shutil.rmtree(old, ignore_errors=True)
    return target


def writing_ids(tok: Any) -> set[int]:
    """Tokens a Korean post may need beyond the author's own: Hangul, digits, punctuation, emoji, short Latin."""
    ok = re.compile(r"^[▁\s\u3131-\u318e\uac00-\ud7a30-9.,!?~\-()\[\]:;'\"/%+*#@&=_^|`…·“”‘’「」『』]+$"
                    r"|^▁?[\U0001F300-\U0001FAFF\u2600-\u27BF\u2764\ufe0f]+$|^▁?[A-Za-z]{1,3}$")
    return {i for i, s in enumerate(tok.convert_ids_to_tokens(list(range(len(tok))))) if s and ok.match(s)}


def restrict_head(model: Any, keep: list[int]) -> Any:
    """Replace the output projection by one over `keep` only: the 262k-row head was most of the bytes read per
    token; the tokens left out are ones this author never writes (other scripts, code pieces). The other tokens'
    logits are -inf. Returns the head it replaced (`model.lm_head = old` puts it back)."""
    import torch

    head = model.get_output_embeddings()
    idx = torch.tensor(keep, dtype=torch.long, device=head.weight.device)
    full = head.weight.shape[0]

    class SubsetHead(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.proj = torch.nn.Linear(head.weight.shape[1], len(keep), bias=False)
            self.proj.weight = torch.nn.Parameter(head.weight.detach()[idx].clone(), requires_grad=False)
            self.register_buffer("idx", idx, persistent=False)

        def forward(self, h: Any) -> Any:
            sub = self.proj(h)
            out = torch.full((*sub.shape[:-1], full), float("-inf"), dtype=sub.dtype, device=sub.device)
            return out.index_copy_(-1, self.idx, sub)

    model.lm_head = SubsetHead()
    return head


def quantize_int8(model: Any, per_channel: bool = False) -> None:
    """Dynamic int8 for every Linear (the 262k-row output projection included), one block at a time from a bf16
    model so peak memory stays low; the input embedding stays bf16 and hands fp32 to the layers. `per_channel`: one
    weight scale per output row instead of one per tensor (generate.int8_scales)."""
    import warnings

    import torch

    warnings.filterwarnings("ignore", message=".*quantize_per_tensor.*deprecated", category=UserWarning)
    emb, head = model.get_input_embeddings(), model.get_output_embeddings()
    if head is not None and getattr(head, "weight", None) is emb.weight:  # untie: the head gets its own copy
        head.weight = torch.nn.Parameter(emb.weight.detach().float(), requires_grad=False)
    _quantize_tree(model, emb, per_channel)
    emb.register_forward_hook(lambda _m, _i, out: out.float())


def _quantize_tree(mod: Any, emb: Any, per_channel: bool = False) -> None:
    import torch

    for name, child in list(mod.named_children()):
        if child is emb:
            continue
        if isinstance(child, torch.nn.Linear):
            child.float()
            setattr(mod, name, torch.ao.nn.quantized.dynamic.Linear.from_float(_with_qconfig(child, per_channel)))
        elif any(True for _ in child.children()):
            _quantize_tree(child, emb, per_channel)
        else:
            child.float()
    for p in mod.parameters(recurse=False):
        p.data = p.data.float()
    for b_name, b in list(mod.named_buffers(recurse=False)):
        if b.is_floating_point():
            mod._buffers[b_name] = b.float()


def _with_qconfig(lin: Any, per_channel: bool = False) -> Any:
    import torch

    q = torch.ao.quantization
    lin.qconfig = q.per_channel_dynamic_qconfig if per_channel else q.default_dynamic_qconfig
    return lin


def layout_ids(tok: Any) -> list[int]:
    """Tokens that are only line breaks and spaces (Gemma 3: "\\n" … a run of 31, "▁▁" …)."""
    return [i for i, s in enumerate(tok.convert_ids_to_tokens(list(range(len(tok)))))
            if s and not s.replace("▁", " ").strip() and s not in (tok.pad_token, tok.eos_token)]


def mark_table(tok: Any) -> tuple[list[str], Any, Any]:
    """Which tokens write which paced mark (features.PACED), and every token's length in characters, from each
    token decoded alone (a byte-level tokenizer's pieces are bytes, not characters): (marks, a vocabulary × marks
    0/1 matrix, lengths). Special tokens write nothing. A mark a vocabulary writes only in pieces of its bytes (an
    emoji in a byte-level BPE) is not found; Gemma's vocabulary writes every emoji as one token."""
    import torch

    from bot.voice.style.features import PACE_SIGNS, PACED

    special = set(tok.all_special_ids)
    decoder = getattr(getattr(tok, "backend_tokenizer", None), "decoder", None)
    if decoder is not None:  # the fast tokenizer's own decoder, piece by piece: 0.3 s for Gemma's 262k, not 5 s
        texts = [decoder.decode([p]) if p else "" for p in tok.convert_ids_to_tokens(list(range(len(tok))))]
    else:
        texts = tok.batch_decode([[i] for i in range(len(tok))])
    texts = ["" if i in special else t for i, t in enumerate(texts)]
    table = torch.zeros((len(texts), len(PACED)), dtype=torch.float32)
    for j, k in enumerate(PACED):
        table[[i for i, t in enumerate(texts) if PACE_SIGNS[k].search(t)], j] = 1.0
    return list(PACED), table, torch.tensor([len(t) for t in texts], dtype=torch.float32)


def pace(rates: dict[str, float], table: tuple[list[str], Any, Any], n_prompt: int, penalty: float,
         ahead: int | None = None) -> Any:
    """A logits processor that keeps each paced mark at most at the author's own rate (`rates`: runs per 1,000
    characters, features.paced_rates): while one more would put the draft's count above that rate over the
    characters written so far plus `ahead`, every token that writes the mark loses `penalty` logits. An author who
    never writes a mark gets it held down from the first token. A written token counts once however many marks it
    holds (a run, as features counts them), which features.held_marks states on the text; a mark `rates` does not
    name (an adapter tuned before it was paced) is let through. `table`: mark_table."""
    import torch
    from transformers import LogitsProcessor

    from bot.voice.style.features import PACE_AHEAD

    ahead = PACE_AHEAD if ahead is None else ahead
    marks, hits, lengths = table
    rate = torch.tensor([rates[k] / 1000 if k in rates else math.inf for k in marks], dtype=torch.float32)

    class Pace(LogitsProcessor):
        def __init__(self) -> None:
            self.seen = n_prompt
            self.chars: Any = None
            self.count: Any = None

        def __call__(self, input_ids: Any, scores: Any) -> Any:
            new = input_ids[:, self.seen:].cpu()
            self.seen = input_ids.shape[1]
            if self.count is None:
                self.chars = torch.zeros(input_ids.shape[0])
                self.count = torch.zeros((input_ids.shape[0], len(marks)))
            self.chars += lengths[new].sum(dim=1)
            self.count += hits[new].sum(dim=1)
            over = (self.count + 1 > rate * (self.chars[:, None] + ahead)).float()  # batch × marks
            if over.any():
                scores = scores - penalty * (over @ hits.T).to(scores.device, scores.dtype)
            return scores

    return Pace()


def sparing_layout(penalty: float, ngram: int, free: list[int]) -> Any:
    """transformers' repetition penalty and n-gram ban in one logits processor that leaves the `free` tokens as the
    model scored them: an author who ends every sentence with a line break repeats the same 4-gram by nature, and the
    ban would take the break away after its first use (generate.spare_layout)."""
    import torch
    from transformers import LogitsProcessor, NoRepeatNGramLogitsProcessor, RepetitionPenaltyLogitsProcessor

    inner = ([RepetitionPenaltyLogitsProcessor(penalty)] if penalty != 1.0 else []) + \
        ([NoRepeatNGramLogitsProcessor(ngram)] if ngram else [])

    class SparingLayout(LogitsProcessor):
        def __init__(self) -> None:
            self.free: Any = None

        def __call__(self, input_ids: Any, scores: Any) -> Any:
            if self.free is None:
                self.free = torch.tensor(free, dtype=torch.long, device=scores.device)
            kept = scores[:, self.free].clone()
            for p in inner:
                scores = p(input_ids, scores)
            scores[:, self.free] = kept
            return scores

    return SparingLayout()
