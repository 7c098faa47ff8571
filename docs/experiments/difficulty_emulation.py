"""A Python emulation of the difficulty fit (src/training/difficulty.rs, before the wrapping ties), for
trying shares and penalties in seconds instead of a four-minute retrain. Research only: nothing ships
from it, and its probe figures are measurements, never a fitting target (docs/labels.md).

It builds the same three kinds of pair from training-data/ (the training split only: the same hash as
the retrain), fits the linear score with L-BFGS to convergence, and prints the probe pairs ordered (each
set, pooled) and the leave-one-source-out CPT(50%) advantage over prompt length.

    python3 docs/experiments/difficulty_emulation.py prompts > /tmp/prompts.jsonl
    triage embed -o /tmp/embeddings.jsonl /tmp/prompts.jsonl
    python3 docs/experiments/difficulty_emulation.py fit /tmp/embeddings.jsonl 0.2,0.3,0.5,1e-3 0,0,1,1e-4

Each setting is `within-task share, levels share, pools share, L2`. BALANCE=1 draws the pools' random
half source by source (every source alike) instead of row by row. Needs numpy and scipy.
"""

import bisect
import collections
import glob
import hashlib
import json
import math
import os
import random
import sys

import numpy as np
from scipy.optimize import minimize

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
PROBES = ["probe/pairs.jsonl", "probe/second/pairs.jsonl", "probe/third/pairs.jsonl", "probe/fourth/pairs.jsonl"]
LOSO_SOURCES = ["arena-hard", "llmrouter", "routerarena", "zeroeval"]


def training_rows():
    rows = []
    for path in sorted(glob.glob(os.path.join(ROOT, "training-data", "*.jsonl"))):
        with open(path) as f:
            rows.extend(json.loads(line) for line in f)
    return rows


def probe_pairs():
    out = []
    for path in PROBES:
        with open(os.path.join(ROOT, path)) as f:
            out.append([json.loads(line) for line in f])
    return out


def held_out(prompt):
    """The retrain's split: 20% of prompts by a hash of their text."""
    d = hashlib.sha256(b"triage-split-v1\0" + prompt.encode()).digest()
    return int.from_bytes(d[:2], "big") % 100 < 20


def write_prompts():
    seen = set()
    texts = [r["prompt"] for r in training_rows()]
    texts += [p[k] for s in probe_pairs() for p in s for k in ("easier", "harder")]
    for t in texts:
        if t not in seen:
            seen.add(t)
            print(json.dumps({"text": t}))


def position(level):
    return (level["value"] - 1) / (level["max"] - 1) if level["max"] > 1 else 0.0


def pool(r):
    """difficulty::pool"""
    if r["source"] in ("zeroeval", "arena-hard", "arena-hard-v2", "generated-hard"):
        return "hard"
    level = r.get("level")
    if isinstance(level, dict) and level.get("max") is not None:
        if level["max"] <= 1:
            return "easy"
        if position(level) >= 0.75:
            return "hard"
    if (r.get("task") or "").startswith("hard_prompt/"):
        return "hard"
    return None


def build_pairs(rows, selected, balance):
    """difficulty::pairs: (harder, easier) row indices of the three kinds."""
    rng = np.random.RandomState(0)

    def ordered(items, gap):
        items = sorted(items, key=lambda t: t[1])
        values = [v for _, v in items]
        out = []
        for harder, v in items:
            k = bisect.bisect_right(values, v - gap)
            for _ in range(4 if k else 0):
                out.append((harder, items[rng.randint(k)][0]))
        while len(out) > 600:
            out.pop(rng.randint(len(out)))
        return out

    by_task, by_scale = collections.defaultdict(list), collections.defaultdict(list)
    easy, hard = [], []
    for i in selected:
        r = rows[i]
        outcomes = r.get("outcomes") or {}
        if outcomes:
            by_task[(r["source"], r.get("task"))].append((i, 1 - np.mean(list(outcomes.values()))))
        level = r.get("level")
        if isinstance(level, dict) and level.get("max", 1) > 1:
            by_scale[r["source"]].append((i, position(level)))
        p = pool(r)
        if p == "easy":
            easy.append(i)
        elif p == "hard":
            hard.append(i)
    task_pairs = [p for items in by_task.values() for p in ordered(items, 0.3)]
    level_pairs = [p for items in by_scale.values() for p in ordered(items, 0.4)]

    def pick(candidates):
        if not balance:
            return candidates[rng.randint(len(candidates))]
        by_source = collections.defaultdict(list)
        for i in candidates:
            by_source[rows[i]["source"]].append(i)
        keys = sorted(by_source)
        chosen = by_source[keys[rng.randint(len(keys))]]
        return chosen[rng.randint(len(chosen))]

    total = min(6000, 4 * max(len(easy), len(hard)))
    easy_by, hard_by = collections.defaultdict(list), collections.defaultdict(list)
    for i in easy:
        easy_by[rows[i].get("domain")].append(i)
    for i in hard:
        hard_by[rows[i].get("domain")].append(i)
    shared = [d for d in easy_by if d in hard_by]
    pool_pairs = []
    for d in shared:
        for _ in range(total // 2 // len(shared)):
            h, e = hard_by[d], easy_by[d]
            pool_pairs.append((h[rng.randint(len(h))], e[rng.randint(len(e))]))
    while len(pool_pairs) < total:
        pool_pairs.append((pick(hard), pick(easy)))
    return task_pairs, level_pairs, pool_pairs


def fit(features, kinds, shares, l2):
    """The pairwise logistic loss, each kind weighing its share, plus l2·|w|², to convergence."""
    diffs, weights = [], []
    for pairs, share in zip(kinds, shares):
        if share == 0 or not pairs:
            continue
        h = np.array([a for a, _ in pairs])
        e = np.array([b for _, b in pairs])
        diffs.append(features[h] - features[e])
        weights.append(np.full(len(pairs), share / len(pairs)))
    d = np.vstack(diffs).astype(np.float64)
    w = np.concatenate(weights)
    w /= w.sum()

    def loss(t):
        m = d @ t
        g = -w / (1 + np.exp(m))
        return (w * np.logaddexp(0, -m)).sum() + l2 * t @ t, d.T @ g + 2 * l2 * t

    return minimize(loss, np.zeros(d.shape[1]), jac=True, method="L-BFGS-B", options={"maxiter": 2000}).x


def cpt50(scores, strong, weak):
    """The reference's pgr_curve + cpt (../shared/metrics/routing_metrics.py)."""
    n = len(scores)
    rng = random.Random(0)
    order = sorted(range(n), key=lambda i: (-scores[i], rng.random()))
    perf_weak, perf_strong = sum(weak) / n, sum(strong) / n
    gap, total = perf_strong - perf_weak, sum(weak)
    for k, i in enumerate(order, start=1):
        total += strong[i] - weak[i]
        if (total / n - perf_weak) / gap >= 0.5:
            return k / n
    return 1.0


def main():
    if sys.argv[1:2] == ["prompts"]:
        write_prompts()
        return
    if sys.argv[1:2] != ["fit"] or len(sys.argv) < 4:
        sys.exit(__doc__)
    vectors, tokens = [], []
    with open(sys.argv[2]) as f:
        for line in f:
            e = json.loads(line)
            vectors.append(e["embedding"])
            tokens.append(e["tokens"])
    write_order = []
    seen = set()
    rows = training_rows()
    for t in [r["prompt"] for r in rows] + [p[k] for s in probe_pairs() for p in s for k in ("easier", "harder")]:
        if t not in seen:
            seen.add(t)
            write_order.append(t)
    if len(write_order) != len(vectors):
        sys.exit("the embeddings do not match `prompts`: embed its output again")
    index = {t: i for i, t in enumerate(write_order)}
    tokens = np.array(tokens, dtype=np.float64)
    # The retrain's features: the embedding and log(1 + tokens) / log(4097).
    features = np.hstack([np.array(vectors, dtype=np.float32), (np.log1p(tokens) / math.log(4097))[:, None]])
    feature_of_row = np.array([index[r["prompt"]] for r in rows])
    row_features = features[feature_of_row]
    train = [i for i, r in enumerate(rows) if not held_out(r["prompt"])]
    balance = os.environ.get("BALANCE") == "1"
    all_kinds = build_pairs(rows, train, balance)
    probes = probe_pairs()
    for spec in sys.argv[3:]:
        a, b, c, l2 = (float(x) for x in spec.split(","))
        w = fit(row_features, all_kinds, (a, b, c), l2)
        ordered = []
        for pairs in probes:
            easier = features[[index[p["easier"]] for p in pairs]] @ w
            harder = features[[index[p["harder"]] for p in pairs]] @ w
            ordered.append(int((harder > easier).sum()))
        advantages = {}
        for source in LOSO_SOURCES:
            rs = [i for i, r in enumerate(rows) if r["source"] == source and r.get("outcomes")]
            counts = collections.Counter(p for i in rs for p in rows[i]["outcomes"])
            providers = sorted(p for p, n in counts.items() if n * 10 >= len(rs) * 9)
            rs = [i for i in rs if all(p in rows[i]["outcomes"] for p in providers)]
            by_mean = sorted((np.mean([rows[i]["outcomes"][p] for i in rs]), p) for p in providers)
            weak, strong = by_mean[(len(by_mean) - 1) // 4][1], by_mean[-1][1]
            kinds = build_pairs(rows, [i for i in train if rows[i]["source"] != source], balance)
            wl = fit(row_features, kinds, (a, b, c), l2)
            scores = list(row_features[rs] @ wl)
            lengths = [float(tokens[feature_of_row[i]]) for i in rs]
            so = [rows[i]["outcomes"][strong] for i in rs]
            wo = [rows[i]["outcomes"][weak] for i in rs]
            advantages[source] = round(100 * (cpt50(lengths, so, wo) - cpt50(scores, so, wo)), 1)
        print(
            spec,
            "probe pairs by set",
            ordered,
            "pooled %.1f%%" % (100 * sum(ordered) / sum(len(p) for p in probes)),
            "| LOSO advantage",
            advantages,
            "mean %+.2f" % np.mean(list(advantages.values())),
            flush=True,
        )


if __name__ == "__main__":
    main()
