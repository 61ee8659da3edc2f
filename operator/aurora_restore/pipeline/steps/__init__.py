"""One module per seed step; each exposes ``run(ctx) -> StepResult``."""
