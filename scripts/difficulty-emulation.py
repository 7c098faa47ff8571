"""A Python emulation of the difficulty fit (src/training/difficulty.rs, before the wrapping ties), for
trying shares and penalties in seconds instead of a four-minute retrain. Research only: nothing ships
from it, and its probe figures are measurements, never a fitting target (docs/experiments.md).

It builds the same three kinds of pair from training-data/ (the training split only: the same hash as
the retrain), fits the linear score with L-BFGS to convergence, and prints the probe pairs ordered (each
set, pooled) and the leave-one-source-out CPT(50%) advantage over prompt length.

    python3 scripts/difficulty-emulation.py prompts > /tmp/prompts.jsonl
    triage embed -o /tmp/embeddings.jsonl /tmp/prompts.jsonl
    python3 scripts/difficulty-emulation.py fit /tmp/embeddings.jsonl 0.2,0.3,0.5,1e-3 0,0,1,1e-4

Each setting is `within-task share, levels share, pools share, L2`. BALANCE=1 draws the pools' random
half source by source (every source alike) instead of row by row. TIES=1 adds the wrapping ties (shipped
2026-12-05); HIDDEN=16 fits a tanh layer of 16 units beside the linear part (tried 2026-12-06, not
shipped). Needs numpy and scipy.
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


def wrapping_ties(rows, selected):
    """difficulty::wrapping_ties: an easy-pool prompt tied to a shorter easy-pool prompt it contains."""
    easy = [i for i in selected if pool(rows[i]) == "easy"]
    first = {}
    for i in easy:
        first.setdefault(rows[i]["prompt"], i)
    shorter = sorted(first.items())
    out = []
    for i in easy:
        p = rows[i]["prompt"]
        for q, j in shorter:
            if j != i and len(q) >= 12 and len(q) < len(p) and q in p:
                out.append((i, j))
                break
    return out


def fit(features, kinds, shares, l2, ties=(), hidden=0):
    """The pairwise logistic loss, each kind weighing its share, plus the ties' squared differences (as much
    weight as all pairs together), plus l2 times the squared parameters, to convergence. Returns the score
    as a function of feature rows: linear, or with `hidden` > 0 the linear part plus a tanh layer of that
    many units (a research variant, 2026-12-06; docs/experiments.md)."""
    harder, easier, weights = [], [], []
    for pairs, share in zip(kinds, shares):
        if share == 0 or not pairs:
            continue
        harder += [a for a, _ in pairs]
        easier += [b for _, b in pairs]
        weights.append(np.full(len(pairs), share / len(pairs)))
    w = np.concatenate(weights)
    w /= w.sum()
    used = sorted(set(harder) | set(easier) | {i for t in ties for i in t})
    local = {r: k for k, r in enumerate(used)}
    x = features[used].astype(np.float64)
    h = np.array([local[i] for i in harder])
    e = np.array([local[i] for i in easier])
    ta = np.array([local[a] for a, _ in ties], dtype=int)
    tb = np.array([local[b] for _, b in ties], dtype=int)
    d = x.shape[1]

    def parts(t):
        return t[:d], t[d : d + d * hidden].reshape(d, hidden), t[d + d * hidden : d + d * hidden + hidden], t[d + d * hidden + hidden :]

    def score(t, rows_x):
        v, w1, b1, w2 = parts(t)
        z = np.tanh(rows_x @ w1 + b1)
        return rows_x @ v + z @ w2, z

    def loss(t):
        v, w1, b1, w2 = parts(t)
        s, z = score(t, x)
        m = s[h] - s[e]
        total = (w * np.logaddexp(0, -m)).sum() + l2 * t @ t
        gs = np.zeros(len(s))
        np.add.at(gs, h, -w / (1 + np.exp(m)))
        np.add.at(gs, e, w / (1 + np.exp(m)))
        if len(ta):
            dt = s[ta] - s[tb]
            total += (dt**2).sum() / len(ta)
            np.add.at(gs, ta, 2 * dt / len(ta))
            np.add.at(gs, tb, -2 * dt / len(ta))
        gz = np.outer(gs, w2) * (1 - z**2)
        grad = np.concatenate([x.T @ gs, (x.T @ gz).ravel(), gz.sum(0), z.T @ gs])
        return total, grad + 2 * l2 * t

    start = np.zeros(d + d * hidden + 2 * hidden)
    if hidden:
        rng = np.random.RandomState(0)
        start[d : d + d * hidden] = rng.randn(d * hidden) * 0.1
        start[d + d * hidden + hidden :] = rng.randn(hidden) * 0.1
    t = minimize(loss, start, jac=True, method="L-BFGS-B", options={"maxiter": 2000}).x
    return lambda rows_x: score(t, rows_x.astype(np.float64))[0]


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
    hidden = int(os.environ.get("HIDDEN", "0"))
    use_ties = os.environ.get("TIES") == "1"
    all_kinds = build_pairs(rows, train, balance)
    all_ties = wrapping_ties(rows, train) if use_ties else []
    probes = probe_pairs()
    for spec in sys.argv[3:]:
        a, b, c, l2 = (float(x) for x in spec.split(","))
        score = fit(row_features, all_kinds, (a, b, c), l2, all_ties, hidden)
        ordered = []
        for pairs in probes:
            easier = score(features[[index[p["easier"]] for p in pairs]])
            harder = score(features[[index[p["harder"]] for p in pairs]])
            ordered.append(int((harder > easier).sum()))
        advantages = {}
        for source in LOSO_SOURCES:
            rs = [i for i, r in enumerate(rows) if r["source"] == source and r.get("outcomes")]
            counts = collections.Counter(p for i in rs for p in rows[i]["outcomes"])
            providers = sorted(p for p, n in counts.items() if n * 10 >= len(rs) * 9)
            rs = [i for i in rs if all(p in rows[i]["outcomes"] for p in providers)]
            by_mean = sorted((np.mean([rows[i]["outcomes"][p] for i in rs]), p) for p in providers)
            weak, strong = by_mean[(len(by_mean) - 1) // 4][1], by_mean[-1][1]
            rest = [i for i in train if rows[i]["source"] != source]
            kinds = build_pairs(rows, rest, balance)
            score_without = fit(row_features, kinds, (a, b, c), l2, wrapping_ties(rows, rest) if use_ties else [], hidden)
            scores = list(score_without(row_features[rs]))
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
