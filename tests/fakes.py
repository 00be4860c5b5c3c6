"""A fake agent for engine tests: scripted learning curves, JSON checkpoints, no training."""

import json
import math
import os


class FakeRunner:
    """Yields one iteration per rollout (num_envs x num_steps env steps, as the agents do);
    ``rewards`` peak at learning_rate = 1e-3.

    Records every run (env, seed, first and last step, checkpoint paths) in ``calls``.
    ``diverge_below``: learning rates under it give a NaN loss (a divergence).
    ``interrupt_on_call``: raise KeyboardInterrupt when that run (0-based) starts.
    ``size_bonus``: rewards gain ``size_bonus * log2(hidden_size / 16)``, so that a larger
    network scores better (``charts/parameters`` is ``hidden_size ** 2``): objectives that
    conflict.
    With ``spec.eval_episodes`` it evaluates as the agents do (every ``eval_every`` steps
    and at the end): ``eval/return`` is ``1000 - quality + step / 1000``, so evaluation
    ranks trials the other way round from training.
    """

    def __init__(self, diverge_below=0.0, interrupt_on_call=None, size_bonus=0.0):
        self.calls = []
        self.diverge_below = diverge_below
        self.interrupt_on_call = interrupt_on_call
        self.size_bonus = size_bonus

    def __call__(self, spec):
        if self.interrupt_on_call is not None and len(self.calls) == self.interrupt_on_call:
            self.interrupt_on_call = None
            raise KeyboardInterrupt
        start = 0
        if spec.restore:
            with open(os.path.join(spec.restore, "state.json")) as f:
                start = json.load(f)["step"]
        lr = spec.hparams["learning_rate"]
        quality = 100.0 - 20.0 * abs(math.log10(lr) + 3.0)
        hidden = spec.hparams.get("hidden_size", 64)
        quality += self.size_bonus * math.log2(hidden / 16)
        batch = spec.hparams["num_envs"] * spec.hparams["num_steps"]
        step = start
        while step + batch <= spec.total_timesteps:
            step += batch
            loss = math.nan if lr < self.diverge_below else 1.0
            metrics = {
                "global_step": step,
                "rewards": quality + step / 1000 + spec.seed,
                "explained_variance": 0.5,
                "episode_length": 10.0,
                "losses/value_loss": loss,
                "charts/parameters": float(hidden**2),
            }
            every = spec.eval_every or spec.total_timesteps
            last = step + batch > spec.total_timesteps
            if spec.eval_episodes and (last or step // every > (step - batch) // every):
                metrics["eval/return"] = 1000.0 - quality + step / 1000
            yield metrics
        os.makedirs(spec.save, exist_ok=True)
        with open(os.path.join(spec.save, "state.json"), "w") as f:
            json.dump({"step": step}, f)
        self.calls.append(
            {
                "env": spec.env_id,
                "seed": spec.seed,
                "start": start,
                "end": step,
                "save": spec.save,
                "restore": spec.restore,
            }
        )
