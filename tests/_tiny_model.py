"""Test helpers for the model tests: a tiny random Gemma 3 and a byte-level BPE tokenizer built here (no download),
a small corpus with a very marked style, and a config pointing blogbot at them."""

from __future__ import annotations

import random
from pathlib import Path

from bot.core.records import Post

ENDINGS = ["~당 ㅎㅎ", "~지용!", "~네용 ㅋㅋ"]
WORDS = ["오늘", "시장", "두부", "고양이", "산책", "한강", "떡국", "요리", "친구", "카페", "봄", "비", "책", "도서관"]


def marked_posts(n: int = 12, seed: int = 0, sentences: int = 14) -> list[Post]:
    """Posts whose every sentence ends in an invented, very marked ending."""
    rng = random.Random(seed)
    posts = []
    for i in range(n):
        topic = f"{rng.choice(WORDS)} {rng.choice(WORDS)} 이야기 {i}"
        body = "\n\n".join(
            " ".join(f"{rng.choice(WORDS)}{rng.choice(['에서', '이랑', '를', '도'])} {rng.choice(WORDS)} 했어요"
                     f"{ENDINGS[0]}" for _ in range(3))
            for _ in range(max(1, sentences // 3)))
        posts.append(Post(platform="files", source_id=f"p{i:02d}", title=topic, body_markdown=body,
                          tags=[rng.choice(WORDS)]))
    return posts


def build_tiny(folder: Path) -> Path:
    """Save a tiny random Gemma3ForCausalLM and its tokenizer in `folder` (a transformers model folder)."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig, PreTrainedTokenizerFast

    texts = [p.title + "\n" + p.body_markdown for p in marked_posts(20, seed=9)] + ["주제: 태그: 분량: 짧음 보통 긺"]
    tk = Tokenizer(models.BPE(unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    specials = ["<pad>", "<eos>", "<bos>", "<unk>"]
    tk.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=600, special_tokens=specials,
                                                       initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tk.post_processor = processors.TemplateProcessing(single="<bos> $A", special_tokens=[("<bos>", 2)])
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, pad_token="<pad>", eos_token="<eos>", bos_token="<bos>",
                                  unk_token="<unk>")
    tok.add_tokens(["<strong>", "</u>", "\u200b\u200b"])
    torch.manual_seed(0)
    cfg = Gemma3TextConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                           num_attention_heads=2, num_key_value_heads=1, head_dim=32, max_position_embeddings=512,
                           sliding_window=64, pad_token_id=0, eos_token_id=1, bos_token_id=2,
                           layer_types=["sliding_attention", "full_attention"])
    model = Gemma3ForCausalLM(cfg).to(torch.float32)
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def write_config(tmp_path: Path, base: Path, **sections: dict) -> Path:
    """A config.yaml in tmp_path using the tiny base; `sections` override (e.g. tune={"max_steps": 5})."""
    import yaml

    data = {"data_dir": "data", "topics_file": "topics.yaml",
            "model": {"base": str(base), "cache_dir": str(tmp_path / "models"), "dtype": "float32", "threads": 1},
            "tune": {"max_steps": 12, "eval_every": 4, "seq_len": 64, "batch_tokens": 256, "learning_rate": 3e-3,
                     "min_posts": 4, "holdout": 0.25, "checkpoint_every": 3, "patience": 50,
                     "preference_steps": 0},  # the preference round has tests of its own (test_tune.py)
            "generate": {"max_new_tokens": 24, "quantize": "none"}}
    for k, v in sections.items():
        data[k] = {**data.get(k, {}), **v}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path
