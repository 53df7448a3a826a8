"""Training examples from stored posts: prompt = topic (title, tags, length), completion = body; windows for long
posts, packing for short ones, a deterministic held-out split, and the hash of the data a tune saw."""

from __future__ import annotations

import hashlib
import math
import statistics
from dataclasses import dataclass, field
from typing import Any

from bot.core.errors import InputError
from bot.core.records import Post

TEMPLATE_VERSION = "v1"
# The prompt every example and every generation starts with. `length` steers the draft toward the author's
# typical length (the model sees each post's real bucket while training).
PROMPT_TEMPLATE = "주제: {topic}\n태그: {tags}\n분량: {length}\n\n"
LENGTH_BUCKETS = ((700, "짧음"), (1600, "보통"), (10**9, "긺"))
IGNORE = -100
# Read, never learned, between the prompt and a window that does not start the post (tune.mark_continuations):
# one token in Gemma's vocabulary, the editor's mark for text left out, the same in every language.
CONTINUATION = "[…]\n"


def length_bucket(chars: int) -> str:
    return next(name for limit, name in LENGTH_BUCKETS if chars < limit)


def render_prompt(topic: str, tags: list[str], length: str) -> str:
    return PROMPT_TEMPLATE.format(topic=" ".join(topic.split()), tags=", ".join(tags) or "-", length=length)


def typical_length(posts: list[Post]) -> int:
    """The author's median post length in characters (900 when there are no posts)."""
    return int(statistics.median(len(p.body_markdown) for p in posts)) if posts else 900


def data_hash(posts: list[Post]) -> str:
    """Identity of a corpus: the sorted content hashes plus the template version (order-independent)."""
    h = hashlib.sha256(TEMPLATE_VERSION.encode())
    for c in sorted(p.content_hash for p in posts):
        h.update(c.encode())
    return h.hexdigest()[:16]


def split(posts: list[Post], holdout: float, seed: int = 0, min_posts: int = 2) -> tuple[list[Post], list[Post]]:
    """(train, held_out): a stable share of posts (at least one) that is never trained on."""
    if len(posts) < min_posts:
        raise InputError(f"too few posts to tune: {len(posts)} stored, at least {min_posts} needed "
                         "(ingest more with `blogbot ingest PATH` or lower tune.min_posts)")
    key = lambda p: hashlib.sha1(f"{seed}|{p.platform}|{p.source_id}".encode()).hexdigest()  # noqa: E731
    ordered = sorted(posts, key=key)
    n_val = min(len(posts) - 1, max(1, round(len(posts) * holdout)))
    return ordered[n_val:], ordered[:n_val]


@dataclass
class Example:
    """One training sequence: token ids and labels (IGNORE on the prompt: loss on the completion only)."""

    input_ids: list[int]
    labels: list[int]

    @property
    def n_loss(self) -> int:
        return sum(1 for x in self.labels if x != IGNORE)


@dataclass(frozen=True)
class Windows:
    """How a long post is cut into windows after the prompt: `context` tokens of the text before a window, read
    but not learned; `mark` puts CONTINUATION (read, not learned) before every window but the first."""

    context: int = 0
    mark: bool = False

    @classmethod
    def of(cls, tune: Any) -> Windows:
        """The windows a tune's settings (cfg.tune) ask for: training, held-out loss and perplexity all use them."""
        return cls(tune.window_context, tune.mark_continuations)


def encode_post(tok: Any, post: Post, seq_len: int, windows: Windows = Windows()) -> list[Example]:
    """A post as one example, or as windows of the body (each after the same prompt) when it is too long. Without
    `windows` a window after the first follows the tune's prompt mid-sentence (89-95 % of the windows of five real
    bloggers' posts at seq_len 256), and the adapter learns to open its drafts mid-sentence; `windows.context`
    reads the text before such a window first, `windows.mark` tells such a window from a post's opening."""
    prompt = render_prompt(post.title or "", post.tags, length_bucket(len(post.body_markdown)))
    p_ids = tok(prompt, add_special_tokens=True)["input_ids"]
    b_ids = tok(post.body_markdown.strip(), add_special_tokens=False)["input_ids"] + [tok.eos_token_id]
    m_ids = tok(CONTINUATION, add_special_tokens=False)["input_ids"] if windows.mark else []
    room = seq_len - len(p_ids)
    if room - len(m_ids) < 16:
        p_ids = p_ids[: seq_len // 2]
        room = seq_len - len(p_ids)
    context = min(windows.context, (room - len(m_ids)) // 2)  # at least half of every window is learned
    out, i = [], 0
    while i < len(b_ids):
        read = m_ids + b_ids[max(0, i - context):i] if i else []
        chunk = b_ids[i : i + room - len(read)]
        if i and len(chunk) < 8:
            break
        out.append(Example(p_ids + read + chunk, [IGNORE] * (len(p_ids) + len(read)) + chunk))
        i += len(chunk)
    return out


def encode(tok: Any, posts: list[Post], seq_len: int, windows: Windows = Windows()) -> list[Example]:
    return [ex for p in posts for ex in encode_post(tok, p, seq_len, windows)]


@dataclass
class Row:
    input_ids: list[int] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)


def pack(examples: list[Example], seq_len: int) -> list[Row]:
    """First-fit decreasing: short examples share a row of at most seq_len tokens, so little is padding."""
    rows: list[Row] = []
    for ex in sorted(examples, key=lambda e: -len(e.input_ids)):
        for r in rows:
            if len(r.input_ids) + len(ex.input_ids) <= seq_len:
                break
        else:
            r = Row()
            rows.append(r)
        r.input_ids += ex.input_ids
        r.labels += ex.labels
    return rows


def batches(rows: list[Row], batch_tokens: int, pad_id: int, rng: Any) -> list[dict[str, Any]]:
    """Shuffled batches of rows (about batch_tokens tokens each) as tensors, padded to the longest row."""
    import torch

    order = list(range(len(rows)))
    rng.shuffle(order)
    seq = max((len(r.input_ids) for r in rows), default=1)
    per = max(1, batch_tokens // seq)
    out = []
    for i in range(0, len(order), per):
        group = [rows[j] for j in order[i : i + per]]
        width = max(len(r.input_ids) for r in group)
        ids = torch.full((len(group), width), pad_id, dtype=torch.long)
        labels = torch.full((len(group), width), IGNORE, dtype=torch.long)
        mask = torch.zeros((len(group), width), dtype=torch.long)
        for k, r in enumerate(group):
            n = len(r.input_ids)
            ids[k, :n] = torch.tensor(r.input_ids)
            labels[k, :n] = torch.tensor(r.labels)
            mask[k, :n] = 1
        out.append({"input_ids": ids, "labels": labels, "attention_mask": mask})
    return out


def steps_per_epoch(rows: list[Row], batch_tokens: int) -> int:
    seq = max((len(r.input_ids) for r in rows), default=1)
    return max(1, math.ceil(len(rows) / max(1, batch_tokens // seq)))


def vocab_ids(tok: Any, posts: list[Post], seq_len: int = 256) -> list[int]:
    """Every token id the author's posts (and the prompt) use: the core of the drafting vocabulary."""
    ids = {i for e in encode(tok, posts, seq_len) for i in e.input_ids}
    return sorted(ids | {tok.eos_token_id})
