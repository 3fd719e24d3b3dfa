"""RenderJob: a frozen snapshot of a project and its render settings, safe to hand to another thread."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from poseanything_studio.core.camera import apply_affine
from poseanything_studio.core.errors import ProjectError
from poseanything_studio.core.images import fit_to_size
from poseanything_studio.core.modes import Init, Matching, Offload, PreviewKind, Renderer, values
from poseanything_studio.core.parts import DEFAULT_PART_RULE, PART_RULES, subject_mask
from poseanything_studio.core.project import (
    MAX_FRAMES,
    Project,
    RenderSettings,
    check_render_budget,
    parse_size,
    reference_to_output,
)

PREVIEWS = values(PreviewKind)
STOCK = RenderSettings()  # the project format's defaults: the one source of the render settings' defaults


@dataclass(frozen=True)
class NeuralOptions:
    """What only the neural renderer reads."""

    model_dir: str | None = STOCK.model_dir
    checkpoint: str | None = STOCK.checkpoint  # None: CHECKPOINT_NAME in model_dir if it is there, else the base model
    device: str = "cuda"  # "cuda", "cuda:N" or "cpu" (test models only)
    matching: Matching = Matching.IDENTITY  # PTCM part matching: the rig's own or by attention (imported rigs)
    init: Init = STOCK.init  # noise, puppet (refine the puppet render), auto: puppet exactly when no checkpoint
    strength: float = STOCK.strength  # puppet refinement: the share of the schedule re-run, (0, 1]
    offload: Offload = Offload.AUTO  # model/pipeline.py PoseAnythingPipeline.place
    compile: bool = False  # regional torch.compile of the transformer's repeated blocks
    # With the official weights: the parts PTC reads. "release": the release's skeleton segments matched by its
    # probe (the default); "rig": ours, one part per rig bone, matched by identity.
    release_parts: str = "release"


@dataclass(frozen=True)
class RenderJob:
    """Everything one render reads, computed up front; arrays are read-only."""

    project: Project
    renderer: Renderer
    frames: int
    size: tuple[int, int]  # width, height
    fps: float
    image: np.ndarray  # (H, W, 4) uint8 RGBA, the picture fitted to `size`
    mask: np.ndarray  # (H, W) bool subject mask at `size`
    rest_xy: np.ndarray  # (J, 2) rest joint positions, output pixels
    positions: np.ndarray  # (F, J, 2) joint positions per frame, output pixels
    camera: np.ndarray  # (F, 4) pan x, pan y, zoom, roll per frame
    preview: PreviewKind | None = None
    part_rule: str = DEFAULT_PART_RULE  # how part masks are made: the paper's capped dilation, or nearest-bone
    prompt: str = STOCK.prompt
    negative_prompt: str = STOCK.negative_prompt
    steps: int = STOCK.steps
    guidance: float = STOCK.guidance
    seed: int = STOCK.seed
    neural: NeuralOptions = field(default_factory=NeuralOptions)
    alpha: bool = False  # frames come with the subject's alpha (Frame.alpha), for exports that keep it
    # Which of steps, guidance, seed the user chose (given here, or changed in the project from our defaults):
    # with the official weights the others take the release's values.
    explicit: frozenset[str] = frozenset()
    painted_mask: np.ndarray | None = field(default=None, compare=False)  # the window's mask, at the picture's size

    @property
    def rig(self):
        return self.project.rig


def make_job(
    project: Project,
    *,
    renderer: str | None = None,
    frames: int | None = None,
    size: tuple[int, int] | None = None,
    preview: str | None = None,
    steps: int | None = None,
    guidance: float | None = None,
    seed: int | None = None,
    neural: NeuralOptions | None = None,
    mask: np.ndarray | None = None,
    part_rule: str = DEFAULT_PART_RULE,
) -> RenderJob:
    """Snapshot `project` for a render, with command-line or panel overrides.

    Reads the picture and the mask now, so a render never sees later edits or file changes.
    `mask`, when given, is the subject mask at the picture's own size (e.g. painted in the window).
    """
    frames = project.frames if frames is None else frames
    if frames < 1 or frames % 4 != 1 or frames > MAX_FRAMES:
        raise ProjectError(f"{frames} must be 4k+1 frames between 1 and {MAX_FRAMES} (e.g. 49, 81, 121)", key="frames")
    size = parse_size(list(size), key="size") if size is not None else project.size
    check_render_budget(frames, size)
    if preview is not None and preview not in PREVIEWS:
        raise ProjectError(f"unknown preview {preview!r} (use pose, parts or camera)", key="preview")
    if part_rule not in PART_RULES:
        raise ProjectError(f"unknown part rule {part_rule!r} (use nearest or dilated)", key="parts")
    r = project.render
    renderer = renderer or r.renderer
    if renderer not in values(Renderer):
        raise ProjectError(f"unknown renderer {renderer!r} (use puppet or poseanything)", key="renderer")
    reference = project.read_image()
    to_output = reference_to_output((reference.shape[1], reference.shape[0]), size)
    image = fit_to_size(reference, size)
    given = mask if mask is not None else project.read_subject_mask()
    fitted_mask = fit_to_size(subject_mask(reference, project.rig, given), size)
    positions = apply_affine(to_output, project.joint_positions(frames))
    rest = apply_affine(to_output, project.rig.rest_xy())
    camera = project.camera.sample(frames)
    for array in (image, fitted_mask, positions, rest, camera):
        array.setflags(write=False)
    explicit = frozenset(
        name
        for name, given in (("steps", steps), ("guidance", guidance), ("seed", seed))
        if given is not None or getattr(r, name) != getattr(STOCK, name)
    )
    return RenderJob(
        project=project,
        renderer=Renderer(renderer),
        frames=frames,
        size=size,
        fps=project.fps,
        image=image,
        mask=fitted_mask,
        rest_xy=rest,
        positions=positions,
        camera=camera,
        preview=None if preview is None else PreviewKind(preview),
        part_rule=part_rule,
        prompt=r.prompt,
        negative_prompt=r.negative_prompt,
        steps=steps or r.steps,
        guidance=r.guidance if guidance is None else guidance,
        seed=r.seed if seed is None else seed,
        neural=neural or neural_options(project),
        explicit=explicit,
        painted_mask=None if mask is None else np.array(mask, bool),
    )


def neural_options(project: Project, **overrides) -> NeuralOptions:
    """The project's neural settings, with any given override that is not None."""
    r = project.render
    # relative to the project's folder, as model_dir (and a leading ~ is the home folder)
    checkpoint = str(project.resolve(str(Path(r.checkpoint).expanduser()))) if r.checkpoint else None
    options = NeuralOptions(model_dir=project.model_dir_path(), checkpoint=checkpoint, init=r.init, strength=r.strength)
    return replace(options, **{k: v for k, v in overrides.items() if v is not None})
