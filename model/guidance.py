"""Subject/camera decoupled classifier-free guidance (the PoseAnything paper, arXiv:2512.13465)."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class DecoupledGuidance:
    """Subject pose in the positive anchor, camera motion in the negative one:

        eps = eps(no subject, camera) + s * (eps(subject, no camera) - eps(no subject, camera))

    The positive branch sees the subject's pose latent and the prompt; the negative branch sees the
    camera-rectangle latent (the rectangle moves with the camera, against the wanted background flow)
    and the negative prompt. Both run as one batch of two, positive first. With no camera motion the
    negative pose is the empty canvas, eps(no subject, no camera), and this is ordinary CFG.
    (The paper's expanded three-term form does not equal the first line; the first line is used.)
    `guidance_scale` <= 1 runs the positive branch alone.
    """

    guidance_scale: float = 5.0

    @property
    def enabled(self) -> bool:
        return self.guidance_scale > 1.0

    def batch(self, positive: torch.Tensor, negative: torch.Tensor) -> torch.Tensor:
        """One model input for both branches: (N, ...) twice -> (2N, ...), or the positive alone."""
        return torch.cat([positive, negative]) if self.enabled else positive

    def __call__(self, prediction: torch.Tensor) -> torch.Tensor:
        """Combine the batched prediction (2N, ...) -> (N, ...) by the formula above."""
        if not self.enabled:
            return prediction
        subject, camera = prediction.chunk(2)
        return camera + self.guidance_scale * (subject - camera)
