"""A command for `hpo worker`: gradient boosting, with boosting iterations as the resource.

    hpo study create --spec examples/study.json
    hpo worker --study gbm-breast-cancer -- python examples/train_gbm.py

It resumes from the checkpoint in the trial directory (``warm_start`` adds trees
to the saved model), reports the validation log loss at the resource it was
asked for, and exits: with promotion-type ASHA the trial pauses there and may
be continued later, by any worker, from the checkpoint.
"""

from __future__ import annotations

import pickle

from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.metrics import log_loss
from sklearn.model_selection import train_test_split

import hpo


def main() -> None:
    trial = hpo.current_trial()
    assert trial.trial_dir is not None, "run me with `hpo worker`"
    features, labels = load_breast_cancer(return_X_y=True)
    train_x, valid_x, train_y, valid_y = train_test_split(
        features, labels, test_size=0.3, random_state=0, stratify=labels
    )
    checkpoint = trial.trial_dir / "model.pkl"
    if trial.resume_from > 0 and checkpoint.exists():
        model = pickle.loads(checkpoint.read_bytes())  # our own checkpoint
    else:
        model = GradientBoostingClassifier(
            learning_rate=trial.config["learning_rate"],
            max_depth=trial.config["max_depth"],
            subsample=trial.config["subsample"],
            max_features=trial.config["max_features"],
            warm_start=True,
            random_state=trial.number,
        )
    model.set_params(n_estimators=int(trial.resource))
    model.fit(train_x, train_y)
    checkpoint.write_bytes(pickle.dumps(model))
    loss = log_loss(valid_y, model.predict_proba(valid_x))
    print(f"{int(trial.resource)} iterations: validation log loss {loss:.4f}")
    hpo.report(trial.resource, loss)


if __name__ == "__main__":
    main()
