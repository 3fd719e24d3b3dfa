"""Fine-tuning PoseAnything: the config (config.py), the objective (objective.py), the latent cache (cache.py),
the saved training state (state.py) and the loop (trainer.py); `model/train.py` is the command."""
