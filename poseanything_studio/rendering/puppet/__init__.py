"""The CPU puppet renderer: the subject as a triangle mesh, deformed as-rigid-as-possible by its bones.

Why ARAP (Igarashi et al. 2005, the two-step closed form), as AnimatedDrawings does: linear blend
skinning needs per-vertex weights and folds at joints; MLS warps the background with the subject.
ARAP keeps every triangle as rigid as the pins allow, so bodies bend at joints and nowhere else.
Pins are the joints plus points sampled along each bone, so limbs stay straight instead of bending
like rubber between their ends. docs/puppet.md compares this with AnimatedDrawings.

One idea a module:

- `parts`: which bone's part each pixel of the subject is (seeded in units of bone thickness, flooded
  over the picture's edges).
- `cuts`: where the mesh is cut between parts (`CutRule`) and the mesh opened along those cuts.
- `mesh`: the pins along the bones, the outline and interior points, the Delaunay triangles.
- `binding`: which vertices their bone holds rigidly and which bend near joints (`Binding`).
- `arap`: the two-step solve, factorised once per mesh (`ArapSolver`); a frame is two back-substitutions.
- `raster`: the deformed triangles to per-pixel source maps for one `cv2.remap`, the camera, compositing.
- `fill`: the background the subject uncovers, cached per picture and mask by a `FillCache` its owner keeps.
- `behind`: what a limb uncovers on the body (`UncoveredPlates`): the thicker parts' own colours under the
  thinner parts inside their outline, drawn per frame where their bones are.
- `renderer`: `PuppetMesh`, which puts them together, and the `puppet` renderer.

    mesh = PuppetMesh.build(rgba, mask, rig, rest_xy, fills=FillCache())   # once per rig (0.1-0.5 s)
    frame = mesh.render(posed_xy, camera_params)                          # per frame (a few ms)
"""

from __future__ import annotations

from .behind import UncoveredPlates
from .cuts import opening_creases
from .fill import FillCache, background_hole, fill_background
from .parts import bone_radii
from .raster import composite
from .renderer import MeshLayout, PuppetMesh, PuppetRenderer

__all__ = [
    "FillCache",
    "MeshLayout",
    "PuppetMesh",
    "PuppetRenderer",
    "UncoveredPlates",
    "background_hole",
    "bone_radii",
    "composite",
    "fill_background",
    "opening_creases",
]
