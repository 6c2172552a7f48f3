"""A command for `hpo worker`: a small CNN on scikit-learn's 8x8 digits, epochs as the resource.

    hpo study create --spec examples/pytorch_cnn.json
    hpo worker --study cnn-digits --gpus 0,1 -- python examples/pytorch_cnn.py

Each assignment trains from ``HPO_RESUME_FROM`` to ``HPO_RESOURCE`` epochs and
reports the validation loss after every epoch. After each epoch it also writes
a checkpoint to the trial directory (model, optimizer, epoch and every random
state the training draws from), so a trial paused at a rung and promoted later,
possibly on another worker, continues exactly where it stopped: the resumed run
matches an uninterrupted one bit for bit on the same device. The data set ships
with scikit-learn, so nothing is downloaded.

It trains on ``cuda`` when a GPU is visible (``hpo worker --gpus`` shows each
trial one GPU through ``CUDA_VISIBLE_DEVICES``), else on the CPU, and prints
which. ``metrics.jsonl`` in the trial directory gets one line per epoch.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

import hpo

CHECKPOINT = "checkpoint.pt"


class DigitsCnn(nn.Module):
    """Two 3x3 convolutions, a 2x2 max-pool, dropout and a linear layer: 8x8 in, 10 logits out."""

    def __init__(self, channels: int, dropout: float) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, channels, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Conv2d(channels, 2 * channels, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Dropout(dropout), nn.Linear(2 * channels * 4 * 4, 10)
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(images))


def load_data(device: torch.device) -> tuple[torch.Tensor, ...]:
    """Train and validation images (N, 1, 8, 8, scaled to [0, 1]) and labels, on ``device``:
    the whole set is 1,797 images, so it lives on the device and batches are index slices."""
    images, labels = load_digits(return_X_y=True)
    train_x, valid_x, train_y, valid_y = train_test_split(
        images, labels, test_size=0.25, random_state=0, stratify=labels
    )
    return (
        torch.tensor(train_x / 16.0, dtype=torch.float32, device=device).view(-1, 1, 8, 8),
        torch.tensor(train_y, dtype=torch.long, device=device),
        torch.tensor(valid_x / 16.0, dtype=torch.float32, device=device).view(-1, 1, 8, 8),
        torch.tensor(valid_y, dtype=torch.long, device=device),
    )


def pick_device() -> torch.device:
    """``cuda`` (the GPU that ``hpo worker --gpus`` left visible) when there is one, else CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def random_states(shuffle: torch.Generator, device: torch.device) -> dict[str, Any]:
    """Every random state training draws from: the shuffling generator, and torch's global
    generators (dropout) on the CPU and, when used, on the GPU."""
    states: dict[str, Any] = {"shuffle": shuffle.get_state(), "torch": torch.get_rng_state()}
    if device.type == "cuda":
        states["cuda"] = torch.cuda.get_rng_state(device)
    return states


def restore_random_states(states: dict[str, Any], shuffle: torch.Generator) -> None:
    shuffle.set_state(states["shuffle"])
    torch.set_rng_state(states["torch"])
    if "cuda" in states:
        torch.cuda.set_rng_state(states["cuda"])


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` next to ``path`` and rename it into place: a worker killed mid-write
    leaves the previous checkpoint intact, never a truncated one that a resume would load."""
    partial = path.with_name(path.name + ".partial")
    torch.save(state, partial)
    os.replace(partial, path)


def train_epoch(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    images: torch.Tensor,
    labels: torch.Tensor,
    batch_size: int,
    shuffle: torch.Generator,
) -> float:
    """One pass over the training set in a shuffled order; the mean training loss."""
    model.train()
    order = torch.randperm(len(labels), generator=shuffle).to(images.device)
    total = 0.0
    for start in range(0, len(labels), batch_size):
        batch = order[start : start + batch_size]
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(images[batch]), labels[batch])
        loss.backward()
        optimizer.step()
        total += loss.item() * len(batch)
    return total / len(labels)


@torch.no_grad()
def evaluate(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> tuple[float, float]:
    """Validation cross-entropy and accuracy."""
    model.eval()
    logits = model(images)
    loss = nn.functional.cross_entropy(logits, labels).item()
    accuracy = (logits.argmax(dim=1) == labels).float().mean().item()
    return loss, accuracy


def main() -> None:
    trial = hpo.current_trial()
    assert trial.trial_dir is not None, "run me with `hpo worker`"
    config = trial.config
    device = pick_device()
    where = os.environ.get("CUDA_VISIBLE_DEVICES", "unset")
    print(f"trial {trial.number}: device {device} (CUDA_VISIBLE_DEVICES={where})", flush=True)
    # One seed per trial: configurations differ in their draws, and a trial's assignments
    # continue one reproducible run.
    torch.manual_seed(trial.number)
    # cuDNN's fastest convolution kernels may add in a different order on each run.
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    shuffle = torch.Generator().manual_seed(trial.number)
    train_x, train_y, valid_x, valid_y = load_data(device)
    model = DigitsCnn(int(config["channels"]), float(config["dropout"])).to(device)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=float(config["lr"]), weight_decay=float(config["weight_decay"])
    )
    checkpoint = trial.trial_dir / CHECKPOINT
    epoch = 0
    if trial.resume_from > 0:
        # weights_only: loading runs no code from the file, only tensors and plain values.
        # Onto the CPU: random states must be CPU tensors; load_state_dict moves the rest.
        saved = torch.load(checkpoint, map_location="cpu", weights_only=True)
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        restore_random_states(saved["random"], shuffle)
        epoch = int(saved["epoch"])
        print(f"resumed from epoch {epoch} ({checkpoint})", flush=True)
    with (trial.trial_dir / "metrics.jsonl").open("a") as metrics:
        while epoch < trial.resource:
            started = time.perf_counter()
            epoch += 1
            train_loss = train_epoch(
                model, optimizer, train_x, train_y, int(config["batch_size"]), shuffle
            )
            valid_loss, accuracy = evaluate(model, valid_x, valid_y)
            save_checkpoint(
                checkpoint,
                {
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "epoch": epoch,
                    "random": random_states(shuffle, device),
                },
            )
            entry = {
                "epoch": epoch,
                "train_loss": train_loss,
                "valid_loss": valid_loss,
                "accuracy": accuracy,
                "device": str(device),
                "seconds": time.perf_counter() - started,
            }
            metrics.write(json.dumps(entry) + "\n")
            metrics.flush()
            print(
                f"epoch {epoch}: train loss {train_loss:.4f}, "
                f"validation loss {valid_loss:.4f}, accuracy {accuracy:.3f}",
                flush=True,
            )
            if hpo.report(epoch, valid_loss).should_stop:
                return


if __name__ == "__main__":
    main()
