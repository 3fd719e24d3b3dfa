"""PoseAnything Studio: animate any subject from one picture with a skeleton of any shape."""

__version__ = "0.1.0"
