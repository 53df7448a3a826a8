"""The language model's output side, as training sees it: the model under a peft wrapper, its last hidden states at
the labelled positions, Gemma's logit soft-capping, and a vocabulary shortlist for the softmax. Shared by the style
tune (bot/voice/tune.py) and its preference round (bot/voice/preference.py)."""

from __future__ import annotations

from typing import Any

from bot.voice import corpus


class Shortlist:
    """A subset of the vocabulary for the training softmax: the kept ids, their rows of the output layer, and a map
    from full ids to positions in the subset."""

    def __init__(self, ids: list[int], head: Any) -> None:
        import torch

        self.ids = sorted(set(ids))
        idx = torch.tensor(self.ids, dtype=torch.long, device=head.weight.device)
        self.weight = head.weight.detach()[idx].contiguous()
        self.bias = head.bias.detach()[idx] if head.bias is not None else None
        self.pos = torch.full((head.weight.shape[0],), -1, dtype=torch.long, device=head.weight.device)
        self.pos[idx] = torch.arange(len(self.ids), device=head.weight.device)


def language_model(model: Any) -> Any:
    """The language model itself, under a peft wrapper or not (its LoRA layers stay active)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def completions(model: Any, batch: dict[str, Any]) -> tuple[Any, Any, Any]:
    """(language model, last hidden states, next tokens) at the positions of `batch` that carry a label."""
    lm = language_model(model)
    batch = {k: v.to(lm.get_output_embeddings().weight.device) for k, v in batch.items()}
    h = lm.get_decoder()(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    y = batch["labels"][:, 1:]
    keep = y != corpus.IGNORE
    return lm, h[:, :-1][keep], y[keep]


def softcap(lm: Any, logits: Any) -> Any:
    """The model's final logit soft-capping (Gemma's `final_logit_softcapping`), when it has one."""
    import torch

    cap = getattr(lm.config, "final_logit_softcapping", None)
    return torch.tanh(logits / cap) * cap if cap else logits
