"""An XPose-style pose/video dataset (arXiv:2512.13465): `poseanything-studio dataset build VIDEOS_DIR -o DATASET`
builds it (build.py, filters.py, masks.py); `model/data.py` reads it for training.

For each clip: the cheap model-free part of the paper's clip filter (scene cuts by colour-histogram
distance between neighbouring frames; camera motion by the global flow of the background), subject masks
(given per frame, or by background subtraction for steady-camera clips), the paper's mask filters, a
skeleton per frame (`core.skeleton`), pose frames drawn by the core's raster, and one line in
`DATASET/manifest.jsonl`, accepted or rejected with its reason. Re-running skips clips already in the
manifest, so an interrupted build resumes; a broken video is logged and skipped.

    DATASET/manifest.jsonl                      {"clip", "status": "accepted"|"rejected", "reason", ...}
    DATASET/clips/NAME/video.mp4                the clip, fitted to --size, 4k+1 frames
    DATASET/clips/NAME/pose.mp4                 its pose frames (bones in stable colours on black)
    DATASET/clips/NAME/masks/00000.png ...      subject masks
    DATASET/clips/NAME/rig.json                 the first frame's rig (joint ids match the pose frames)

Joint identity across frames: the first frame's skeleton is the template. Each later frame predicts
every template joint (its own last motion, or the subject's overall motion, the shift of the mask's
centroid, for a joint not seen last frame), then matches predictions to that frame's skeleton joints by
optimal assignment (scipy's `linear_sum_assignment`, least total distance) with a distance gate of a
quarter of the subject's size; a joint with no match within the gate keeps its prediction. Two joints
that cross keep their identities; bones that appear later are not added, and a joint whose skeleton
point vanished drifts with its prediction.

What remains of the paper's Qwen2.5-VL filter: "a single non-human subject" needs a vision-language
model and is not checked here (masks from background subtraction keep the largest moving blob);
scene cuts and camera motion are checked without a model, as above.
"""
