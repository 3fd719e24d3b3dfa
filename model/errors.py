"""The model's errors: one line that says what is wrong and what to do."""


class ModelError(Exception):
    """The neural renderer cannot run: no CUDA, a missing or incomplete model folder, a wrong checkpoint, no memory."""


class PipelineInterrupted(Exception):
    """The denoising loop was interrupted (pipeline.interrupt = True); nothing was decoded."""
