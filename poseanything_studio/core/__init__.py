"""The animation domain: rigs, tracks, camera, project files, rasters, part masks.

Pure by contract (import-linter): numpy, scipy and OpenCV only; no Qt, no torch.
"""
