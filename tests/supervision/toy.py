"""A checkpointing toy trainable for the supervisor's tests: a learning rate above 0.3 diverges.

Each report carries the loss, accuracy, learning rate and per-layer gradient norms, and a
checkpoint; a restored trial continues from its checkpoint with the config it is given, as the
real image trainable does, so an ``adjust`` shows in the reports that follow it.
"""

from __future__ import annotations

import json
import os
import tempfile
import time

from ray import tune

DIVERGES_ABOVE = 0.3


def toy_trainable(config: dict) -> None:
    epoch, loss = 0, 2.0
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as directory:
            with open(os.path.join(directory, "state.json")) as f:
                state = json.load(f)
        epoch, loss = state["epoch"], state["loss"]
    end = config["epochs"]
    if checkpoint is not None and config.get("epochs_after_restore"):
        end = min(end, epoch + config["epochs_after_restore"])  # a resumed (adjusted) trial ends soon after
    while epoch < end:
        epoch += 1
        lr = config["learning_rate"]
        loss *= 1.6 if lr > DIVERGES_ABOVE else 0.8
        metrics = {
            "loss": loss,
            "val_acc": 1.0 / (1.0 + loss),
            "learning_rate": lr,
            "epoch": epoch,
            "grad_norm/total": 10 * lr * loss,
            "grad_norm/conv1": 1e-9 if config.get("model") == "flawed_cnn" else 0.1 * loss,
            "grad_norm/fc": lr * loss,
        }
        with tempfile.TemporaryDirectory() as directory:
            with open(os.path.join(directory, "state.json"), "w") as f:
                json.dump({"epoch": epoch, "loss": loss}, f)
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(directory))
        time.sleep(config.get("sleep_s", 0.2))
