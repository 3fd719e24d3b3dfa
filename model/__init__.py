"""The PoseAnything neural model: torch + diffusers, one readable file per piece. Never imports Qt."""
