"""The demo's training script: an MLP on scikit-learn's digits, one epoch per resource unit.

``hpo demo`` runs it in-process (``hpo worker --function hpo.demo.digits:train``);
``hpo worker ... -- python -m hpo.demo.digits`` runs it as a command. It shows
the contract every training script follows: read the trial, resume from its
checkpoint, report after each epoch, stop when told to.
"""

from __future__ import annotations

import pickle

import numpy as np
from sklearn.datasets import load_digits
from sklearn.metrics import accuracy_score, log_loss
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler

import hpo

CLASSES = np.arange(10)


def load_data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    features, labels = load_digits(return_X_y=True)
    train_x, valid_x, train_y, valid_y = train_test_split(
        features, labels, test_size=0.25, random_state=0, stratify=labels
    )
    scaler = StandardScaler().fit(train_x)
    return scaler.transform(train_x), scaler.transform(valid_x), train_y, valid_y


def build_model(config: dict, seed: int) -> MLPClassifier:
    return MLPClassifier(
        hidden_layer_sizes=(int(config["units"]),) * int(config["layers"]),
        activation=str(config["activation"]),
        learning_rate_init=float(config["learning_rate"]),
        alpha=float(config["alpha"]),
        batch_size=int(config["batch_size"]),
        random_state=seed,
    )


def train(trial: hpo.TrialContext) -> None:
    """Train ``trial`` from its checkpoint, one epoch per report, until told to stop."""
    train_x, valid_x, train_y, valid_y = load_data()
    assert trial.trial_dir is not None
    checkpoint = trial.trial_dir / "model.pkl"
    epoch = int(trial.resume_from)
    if epoch > 0 and checkpoint.exists():
        model = pickle.loads(checkpoint.read_bytes())  # our own file, written below
    else:
        model, epoch = build_model(trial.config, seed=trial.number), 0
    while True:
        epoch += 1
        model.partial_fit(train_x, train_y, classes=CLASSES)
        probabilities = model.predict_proba(valid_x)
        loss = log_loss(valid_y, probabilities, labels=CLASSES)
        accuracy = accuracy_score(valid_y, CLASSES[probabilities.argmax(axis=1)])
        checkpoint.write_bytes(pickle.dumps(model))
        print(f"epoch {epoch}: validation log loss {loss:.4f}, accuracy {accuracy:.3f}")
        if trial.report(epoch, loss).should_stop:
            return


if __name__ == "__main__":
    train(hpo.current_trial())
