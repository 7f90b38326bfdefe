"""Model builders, the training loop, evaluation and export (needs the ``train`` extra)."""
