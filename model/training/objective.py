"""What a training step computes: Wan's flow-matching loss, its shifted sigma, and which weights a stage trains."""

from __future__ import annotations

from .config import Stage

LORA_TARGETS = ("to_q", "to_k", "to_v", "to_out.0")  # of every block's attn1 and attn2 (never PTCM)


def trainable_names(model, stage: Stage) -> set[str]:
    """Parameter names a stage trains (PTCM never in a stage that does not run it: DDP needs every one used)."""
    names = set()
    for name, _ in model.named_parameters():
        is_ptcm, is_lora = ".ptcm." in name, "lora_" in name
        if stage.trainable == "all":
            keep = not is_ptcm or stage.ptcm
        elif stage.trainable == "pose_embed":
            keep = name.startswith("patch_embedding.")
        elif stage.trainable == "ptcm":
            keep = is_ptcm
        else:  # lora: the adapters and the pose-widened patch embedding
            keep = is_lora or name.startswith("patch_embedding.")
        if keep:
            names.add(name)
    return names


def lora_target_modules(model) -> list[str]:
    """Full names of every block's self- and cross-attention projections (PTCM's have other names)."""
    return sorted(
        name
        for name, _ in model.named_modules()
        if any(name.endswith(f".attn{a}.{t}") for a in (1, 2) for t in LORA_TARGETS)
    )


def sample_sigma(u, shift: float):
    """Wan's timestep shift of uniform u in [0, 1): sigma = shift u / (1 + (shift - 1) u)."""
    return shift * u / (1 + (shift - 1) * u)


def flow_matching_loss(model, x0, pose, text, noise, sigma, context=None):
    """The TI2V flow-matching loss of one sample; x0, pose, noise (1, C, F', h, w), sigma a float tensor (1,)."""
    import torch

    mask = torch.ones(1, 1, *x0.shape[2:], device=x0.device, dtype=x0.dtype)
    mask[:, :, 0] = 0  # the first latent frame is the clean reference image
    sigma = sigma.to(x0.device, x0.dtype).view(1, 1, 1, 1, 1)
    x_t = x0 + mask * sigma * (noise - x0)  # (1 - sigma) x0 + sigma noise, x0 on frame 0
    target = noise - x0
    p_h, p_w = model_config(model).patch_size[1:]
    timestep = (mask[0, 0][:, ::p_h, ::p_w] * sigma.view(()) * 1000).flatten()[None]  # (1, F' h/2 w/2)
    pred = model(
        hidden_states=x_t,
        timestep=timestep,
        encoder_hidden_states=text,
        pose_latents=pose,
        part_context=context,
        return_dict=False,
    )[0]
    err = (pred.float() - target.float()) ** 2 * mask
    return err.sum() / (mask.sum() * x0.shape[1])


def model_config(model):
    """The transformer's config, also through a DDP wrapper."""
    return getattr(model, "module", model).config
