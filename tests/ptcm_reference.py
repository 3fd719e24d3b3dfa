"""The PTCM math as first written (dense boolean mask, explicit attention map): the reference the fused
processor must equal. Batched as PartContext is: tokens (S, F', B, n), S = 1 shared by the batch."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from poseanything_studio.model.part_attention import PartContext, PartTemporalCoherence


def reference_affinity(query_first, key_later, parts_first, parts_later) -> torch.Tensor:
    """(S, F'-1, B, B) from the explicit (n x n) attention maps."""
    dim = query_first.shape[-1]
    logits = torch.einsum("nhqd,nhfkd->nhfqk", query_first.float(), key_later.float()) / dim**0.5
    attention = logits.softmax(-1).mean(1)  # (N, F'-1, n, n)
    if parts_later.shape[0] == 1:
        attention = attention.mean(0, keepdim=True)
    weights = parts_first.float() / parts_first.float().sum(-1, keepdim=True).clamp(min=1)
    return torch.einsum("sjq,sfqk,sftk->sfjt", weights, attention, parts_later.float())


def cross_attention_mask(context: PartContext, matching: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Which first-frame key each later query may see, (S, (F'-1)*n, n); which queries see any, (S, (F'-1)*n)."""
    first = context.tokens[:, 0].float()
    later = context.tokens[:, 1:]
    matched = torch.gather(later, 2, matching[:, 1:, :, None].expand_as(later)).float()
    allowed = (torch.einsum("sfjq,sjk->sfqk", matched, first) > 0).flatten(1, 2)
    valid = allowed.any(-1)
    return allowed | ~valid[..., None], valid


class ReferencePTCMProcessor:
    """Masked part-level cross-attention over every later token with a dense (L, n) boolean mask."""

    is_ptcm_processor = True

    def __call__(self, attn: PartTemporalCoherence, hidden_states: torch.Tensor, context: PartContext):
        frames, h, w = context.grid
        n = h * w
        x = attn.norm(hidden_states.float()).type_as(hidden_states)
        first, later = x[:, :n], x[:, n:]

        def heads(t):
            return t.unflatten(2, (attn.heads, -1)).transpose(1, 2)

        key, value = heads(attn.norm_k(attn.to_k(first))), heads(attn.to_v(first))
        query = heads(attn.norm_q(attn.to_q(later)))
        if context.measure and frames > 1:
            query_first = heads(attn.norm_q(attn.to_q(first)))
            key_later = heads(attn.norm_k(attn.to_k(later))).unflatten(2, (frames - 1, n))
            context.add_affinity(
                reference_affinity(query_first, key_later, context.tokens[:, 0], context.tokens[:, 1:])
            )
        allowed, valid = cross_attention_mask(context, context.matching())
        out = F.scaled_dot_product_attention(query, key, value, attn_mask=allowed[:, None])
        out = out.transpose(1, 2).flatten(2) * valid[:, :, None].to(out.dtype)
        out = attn.to_out(out.type_as(hidden_states))
        return torch.cat([torch.zeros_like(hidden_states[:, :n]), out], dim=1)
