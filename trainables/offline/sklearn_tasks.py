"""Bayesmark-style scikit-learn tuning tasks: 4 models x 3 bundled data sets, 3-fold CV accuracy.

Spaces follow Bayesmark's where it has the model (SVC, random forest, MLP-adam); gradient boosting
uses scikit-learn's histogram booster. Iteration counts are capped (documented per space) so one
evaluation stays under ~2 s on two CPU cores. Metric "cv_score" (mean accuracy over the folds), mode max.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import numbers
import warnings
from collections.abc import Mapping
from typing import Any

from trainables.offline.task import OfflineTask, make_task

DATASETS = ("digits", "wine", "breast_cancer")
_DATASET_TEXT = {
    "digits": "scikit-learn's digits (1797 8x8 images, 10 classes)",
    "wine": "scikit-learn's wine (178 samples, 13 features, 3 classes)",
    "breast_cancer": "scikit-learn's breast cancer (569 samples, 30 features, 2 classes)",
}
FOLDS = 3
# The MLP's epochs are capped and its smallest batch raised (Bayesmark: 200 epochs, batches from 10):
# otherwise one evaluation on digits takes far longer than the 2 s budget.
MLP_MAX_ITER = 20
# Bayesmark fixes the forest size.
RF_N_ESTIMATORS = 10


@dataclasses.dataclass(frozen=True)
class _Param:
    kind: str  # "float", "logfloat" or "int"
    low: float
    high: float


_SPACES: dict[str, dict[str, _Param]] = {
    "svc": {
        "C": _Param("logfloat", 1.0, 1e3),
        "gamma": _Param("logfloat", 1e-4, 1e-3),
        "tol": _Param("logfloat", 1e-5, 1e-1),
    },
    "random_forest": {
        "max_depth": _Param("int", 1, 15),
        "max_features": _Param("float", 0.01, 0.9),
        "min_samples_split": _Param("float", 0.01, 0.99),
        "min_samples_leaf": _Param("float", 0.01, 0.49),
        "min_weight_fraction_leaf": _Param("float", 0.01, 0.49),
    },
    "gradient_boosting": {
        "learning_rate": _Param("logfloat", 1e-3, 1.0),
        "max_iter": _Param("int", 10, 30),  # boosting rounds; 10 trees each on digits
        "max_leaf_nodes": _Param("int", 4, 31),
        "min_samples_leaf": _Param("int", 1, 50),
        "l2_regularization": _Param("logfloat", 1e-6, 1.0),
    },
    "mlp": {
        "hidden_layer_sizes": _Param("int", 50, 200),
        "alpha": _Param("logfloat", 1e-5, 1e1),
        "batch_size": _Param("int", 32, 250),
        "learning_rate_init": _Param("logfloat", 1e-5, 1e-1),
        "tol": _Param("logfloat", 1e-5, 1e-1),
        "beta_1": _Param("float", 0.5, 0.99),
        "beta_2": _Param("float", 0.9, 1.0 - 1e-6),
        "epsilon": _Param("logfloat", 1e-9, 1e-6),
    },
}
_MODEL_TEXT = {
    "svc": "an RBF support vector classifier (C, gamma, tol; features standardized)",
    "random_forest": f"a {RF_N_ESTIMATORS}-tree random forest (depth, feature fraction and split/leaf fractions)",
    "gradient_boosting": "a histogram gradient-boosting classifier (learning rate, iterations, leaves, L2)",
    "mlp": f"a one-hidden-layer MLP trained by Adam for at most {MLP_MAX_ITER} epochs (features standardized)",
}
TASK_NAMES = tuple(f"sklearn/{model}_{dataset}" for model in _SPACES for dataset in DATASETS)


@functools.cache
def _data(dataset: str) -> tuple[Any, Any]:
    from sklearn import datasets

    loader = {"digits": datasets.load_digits, "wine": datasets.load_wine, "breast_cancer": datasets.load_breast_cancer}
    return loader[dataset](return_X_y=True)


def _estimator(model: str, params: Mapping[str, Any], seed: int) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    if model == "svc":
        return make_pipeline(StandardScaler(), SVC(kernel="rbf", random_state=seed, **params))
    if model == "random_forest":
        return RandomForestClassifier(n_estimators=RF_N_ESTIMATORS, random_state=seed, n_jobs=1, **params)
    if model == "gradient_boosting":
        return HistGradientBoostingClassifier(early_stopping=False, random_state=seed, **params)
    return make_pipeline(
        StandardScaler(), MLPClassifier(solver="adam", max_iter=MLP_MAX_ITER, random_state=seed, **params)
    )


def _checked(model: str, params: Mapping[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, spec in _SPACES[model].items():
        value = params[key]
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not spec.low <= value <= spec.high:
            raise ValueError(f"sklearn/{model}: {key}={value!r} must be a number in [{spec.low:g}, {spec.high:g}]")
        values[key] = int(round(value)) if spec.kind == "int" else float(value)
    return values


@dataclasses.dataclass(frozen=True)
class SklearnEvaluator:
    """Cross-validates one model on one data set; the seed sets the folds and the model's randomness."""

    model: str
    dataset: str

    def __call__(self, params: Mapping[str, Any], seed: int) -> dict[str, float]:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.model_selection import StratifiedKFold, cross_val_score

        values = _checked(self.model, params)
        features, labels = _data(self.dataset)
        if self.model == "mlp":
            # Bigger batches than a training fold (wine: 118 rows) mean "full batch"; say so instead of
            # letting scikit-learn clip it with a warning on every evaluation.
            values["batch_size"] = min(values["batch_size"], len(labels) * (FOLDS - 1) // FOLDS)
        estimator = _estimator(self.model, values, seed)
        folds = StratifiedKFold(n_splits=FOLDS, shuffle=True, random_state=seed % 2**32)
        with warnings.catch_warnings():
            # Capped iterations are part of the task's definition, not a problem to warn about.
            warnings.simplefilter("ignore", ConvergenceWarning)
            scores = cross_val_score(estimator, features, labels, cv=folds, scoring="accuracy")
        return {"cv_score": float(scores.mean()), "cv_score_std": float(scores.std())}


def _tune_domain(spec: _Param) -> Any:
    from ray import tune

    if spec.kind == "int":
        return tune.randint(int(spec.low), int(spec.high) + 1)  # randint's upper bound is exclusive
    if spec.kind == "logfloat":
        return tune.loguniform(spec.low, spec.high)
    return tune.uniform(spec.low, spec.high)


def _middle(spec: _Param) -> float | int:
    if spec.kind == "int":
        return int((spec.low + spec.high) // 2)
    if spec.kind == "logfloat":
        return math.sqrt(spec.low * spec.high)
    return (spec.low + spec.high) / 2.0


def build(name: str) -> OfflineTask:
    """Build ``"sklearn/<model>_<dataset>"``."""
    rest = name.removeprefix("sklearn/")
    dataset = next(d for d in DATASETS if rest.endswith(f"_{d}"))
    model = rest.removesuffix(f"_{dataset}")
    space = _SPACES[model]
    return make_task(
        name,
        SklearnEvaluator(model, dataset),
        {key: _tune_domain(spec) for key, spec in space.items()},
        metric="cv_score",
        mode="max",
        optimum=None,
        optimum_config=None,
        optimum_mean=None,
        description=f"Tune {_MODEL_TEXT[model]} on {_DATASET_TEXT[dataset]} to maximize {FOLDS}-fold CV accuracy.",
        default_config={key: _middle(spec) for key, spec in space.items()},
    )
