"""Writes the XGBoost test fixtures of forged's model package.

Trains small models on generated data (fixed seeds) with the installed
xgboost (Debian's python3-xgboost; the fixtures were made with 1.7.4), saves
each with Booster.save_model("<name>.json") into model/testdata/xgboost/ and
writes <name>.expected.json next to it:

    {"xgboost_version": "1.7.4", "objective": "...",
     "rows": [[x0, x1, ...], ...],        # null is a missing value (NaN)
     "predictions": [[...], ...],         # Booster.predict, one list per row
     "margins": [[...], ...]}             # Booster.predict(output_margin=True)

The test rows mix random rows, rows with missing values, a row of nothing
but missing values, and rows whose value sits exactly on a split threshold
or a hair below it (the float64 just under the float32 threshold, which
xgboost rounds up to the threshold), so that tie-breaking is checked too.

Run from the repository root: /usr/bin/python3 scripts/models/make_xgboost_fixtures.py
"""
import json
import math
import os

import numpy as np
import xgboost as xgb

OUT = os.path.join("model", "testdata", "xgboost")


def make_data(seed, n, d, missing=0.12):
    rng = np.random.RandomState(seed)
    x = rng.normal(size=(n, d))
    mask = rng.uniform(size=(n, d)) < missing
    return rng, x, mask


def with_missing(x, mask):
    x = x.copy()
    x[mask] = np.nan
    return x


def thresholds(booster):
    """(feature, threshold) of every split of the saved model."""
    model = json.loads(booster.save_raw(raw_format="json"))
    gb = model["learner"]["gradient_booster"]
    trees = gb["gbtree"]["model"]["trees"] if gb["name"] == "dart" else gb["model"]["trees"]
    out = []
    for t in trees:
        for i, left in enumerate(t["left_children"]):
            if left != -1:
                out.append((t["split_indices"][i], t["split_conditions"][i]))
    return out


def test_rows(seed, d, booster):
    rng = np.random.RandomState(seed)
    rows = [list(r) for r in rng.normal(size=(12, d))]
    for i in range(6):
        r = list(rng.normal(size=d))
        r[i % d] = math.nan
        if i % 2:
            r[(i + 1) % d] = math.nan
        rows.append(r)
    rows.append([math.nan] * d)
    splits = thresholds(booster)
    for k in range(0, len(splits), max(1, len(splits) // 6))[:6]:
        f, thr = splits[k]
        on = list(rng.normal(size=d))
        on[f] = float(np.float32(thr))
        below = list(on)
        # The largest float64 below the float32 threshold: xgboost reads
        # it as float32, so it lands on the threshold and goes right.
        below[f] = float(np.nextafter(np.float64(np.float32(thr)), -np.inf))
        rows.extend([on, below])
    return rows


def write(name, booster, objective, rows, names=None):
    # Predict on plain arrays (no names), then save the model with its
    # feature names, if any, so that the file records them.
    booster.feature_names = None
    x = np.array(rows, dtype=np.float64)
    dm = xgb.DMatrix(x)
    pred = booster.predict(dm).reshape(len(rows), -1)
    margin = booster.predict(dm, output_margin=True).reshape(len(rows), -1)
    booster.feature_names = names
    path = os.path.join(OUT, name + ".json")
    booster.save_model(path)
    ref = {
        "xgboost_version": xgb.__version__,
        "objective": objective,
        "rows": [[None if math.isnan(v) else v for v in r] for r in rows],
        "predictions": [[float(v) for v in r] for r in pred],
        "margins": [[float(v) for v in r] for r in margin],
    }
    with open(os.path.join(OUT, name + ".expected.json"), "w") as f:
        json.dump(ref, f, indent=None, separators=(",", ":"))
        f.write("\n")
    print(name, os.path.getsize(path), "bytes")


def binary():
    rng, x, mask = make_data(1, 400, 5)
    score = 1.2 * x[:, 0] - 0.8 * x[:, 1] + 0.6 * x[:, 2] * x[:, 3] - 0.4 * x[:, 4]
    score += np.where(mask[:, 0], 1.0, 0.0)  # missing f0 leans positive
    y = (rng.uniform(size=400) < 1 / (1 + np.exp(-score))).astype(np.float64)
    names = ["tenure", "charges", "calls", "usage", "age"]
    dm = xgb.DMatrix(with_missing(x, mask), label=y, feature_names=names)
    params = {"objective": "binary:logistic", "max_depth": 3, "eta": 0.3,
              "base_score": 0.3, "seed": 1, "nthread": 1}
    b = xgb.train(params, dm, 12)
    write("binary", b, "binary:logistic", test_rows(101, 5, b), names)


def regression():
    rng, x, mask = make_data(2, 400, 4)
    y = np.sin(x[:, 0]) + 0.5 * x[:, 1] * x[:, 2] - 0.3 * x[:, 3] + 0.1 * rng.normal(size=400)
    y += np.where(mask[:, 1], -0.7, 0.0)
    dm = xgb.DMatrix(with_missing(x, mask), label=y)
    params = {"objective": "reg:squarederror", "max_depth": 3, "eta": 0.3,
              "base_score": 0.8, "seed": 2, "nthread": 1}
    b = xgb.train(params, dm, 12)
    write("regression", b, "reg:squarederror", test_rows(102, 4, b))


def multiclass(objective, name, rounds, depth):
    rng, x, mask = make_data(3, 450, 4)
    s = np.stack([x[:, 0] + x[:, 1], x[:, 2] - x[:, 0], 0.5 * x[:, 3] + 0.2], axis=1)
    s += rng.gumbel(size=s.shape)
    y = np.argmax(s, axis=1).astype(np.float64)
    dm = xgb.DMatrix(with_missing(x, mask), label=y)
    params = {"objective": objective, "num_class": 3, "max_depth": depth, "eta": 0.3,
              "seed": 3, "nthread": 1}
    b = xgb.train(params, dm, rounds)
    write(name, b, objective, test_rows(103, 4, b))


def small(objective, name, label, extra=None, rounds=3):
    """A depth-2 model of a few rounds: enough to check an objective's
    transform."""
    rng, x, mask = make_data(4, 300, 3)
    z = 0.8 * x[:, 0] - 0.5 * x[:, 1] + 0.3 * x[:, 2]
    y = label(rng, z)
    dm = xgb.DMatrix(with_missing(x, mask), label=y)
    params = {"objective": objective, "max_depth": 2, "eta": 0.5, "seed": 4, "nthread": 1}
    params.update(extra or {})
    b = xgb.train(params, dm, rounds)
    write(name, b, objective, test_rows(104, 3, b))


def pruned():
    """Gamma pruning leaves deleted nodes in the node arrays (unreachable,
    split_indices 2147483647): they must be skipped, not refused."""
    rng, x, mask = make_data(5, 400, 4)
    y = np.sin(2 * x[:, 0]) + x[:, 1] + 0.2 * rng.normal(size=400)
    dm = xgb.DMatrix(with_missing(x, mask), label=y)
    params = {"objective": "reg:squarederror", "tree_method": "exact", "max_depth": 6,
              "gamma": 2.0, "eta": 0.5, "seed": 5, "nthread": 1}
    b = xgb.train(params, dm, 2)
    write("pruned", b, "reg:squarederror", test_rows(105, 4, b))


def categorical():
    """A model with categorical splits, which forged refuses."""
    rng = np.random.RandomState(6)
    x = rng.normal(size=(300, 3))
    x[:, 1] = rng.randint(0, 5, size=300)
    y = np.where(np.isin(x[:, 1], [1, 3]), 2.0, -1.0) + 0.1 * x[:, 0]
    dm = xgb.DMatrix(x, label=y, feature_types=["q", "c", "q"], enable_categorical=True)
    b = xgb.train({"tree_method": "hist", "max_depth": 2, "max_cat_to_onehot": 1,
                   "seed": 6, "nthread": 1}, dm, 2)
    b.save_model(os.path.join(OUT, "categorical.json"))
    print("categorical", os.path.getsize(os.path.join(OUT, "categorical.json")), "bytes")


def main():
    os.makedirs(OUT, exist_ok=True)
    binary()
    regression()
    multiclass("multi:softprob", "multiclass", 6, 3)
    multiclass("multi:softmax", "softmax", 3, 2)
    cls = lambda rng, z: (rng.uniform(size=z.shape) < 1 / (1 + np.exp(-2 * z))).astype(np.float64)
    prob = lambda rng, z: 1 / (1 + np.exp(-z))
    count = lambda rng, z: rng.poisson(np.exp(0.5 * z)).astype(np.float64)
    positive = lambda rng, z: np.exp(0.5 * z) * rng.gamma(2.0, 0.5, size=z.shape)
    real = lambda rng, z: z + 0.3 * rng.standard_t(3, size=z.shape)
    small("binary:logitraw", "logitraw", cls, {"base_score": 0.2})
    small("binary:hinge", "hinge", cls)
    small("reg:logistic", "reglogistic", prob, {"base_score": 0.6})
    small("count:poisson", "poisson", count, {"base_score": 1.5})
    small("reg:gamma", "gamma", positive, {"base_score": 2.0})
    small("reg:tweedie", "tweedie", count)
    small("reg:pseudohubererror", "pseudohuber", real)
    small("reg:absoluteerror", "absoluteerror", real)
    small("binary:logistic", "dart", cls,
          {"booster": "dart", "rate_drop": 0.5, "skip_drop": 0.0, "base_score": 0.4},
          rounds=5)
    pruned()
    categorical()


if __name__ == "__main__":
    main()
