#!/usr/bin/env python3
"""Writes tests/fixtures/metrics/case.json: inputs and the reference outputs of routing_metrics.py.

Usage: scripts/metrics-reference.py /work/shared/metrics/routing_metrics.py [out.json]

Stdlib only. The data are synthetic and deterministic (fixed seeds). Every input number is rounded to a few
decimals so that any correctly-rounding JSON reader (serde_json's fast path included) gets the very same f64
as Python. Pair scores are distinct, so the random tie-breaking of pgr_curve (which the Rust port does with
its own PRNG) never matters. Ties elsewhere (estimates, outcomes, costs) are broken deterministically by both
implementations and are exercised on purpose by the "quantized" case.

Note: the reference sums with Python's sum(); Python < 3.12 adds left to right (as the Rust port does),
Python >= 3.12 compensates, which can move results in the last bits only.
"""
import importlib.util
import json
import math
import os
import random
import sys


def load(path):
    spec = importlib.util.spec_from_file_location("routing_metrics", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def r(x, d=6):
    return round(x, d)


def routing_case(name, rng, n, providers, mean_q, unit_cost, est_noise, cost_noise, quantize=False,
                 uniform=False, est_unit_cost=None, est_scale=1.0):
    """Returns a dict of matrices (prompt x provider): outcomes, costs, est_quality, est_cost.

    quantize: few distinct values everywhere (ties in estimates, outcomes and costs; est_unit_cost lets
    providers share an estimated price). uniform: outcomes independent and uniform on [0, 1].
    est_scale: quality estimates on a wider scale, so that the whole 0..1 drop sweep of aiq matters."""
    est_unit_cost = est_unit_cost or unit_cost
    outcomes, costs, est_q, est_c = [], [], [], []
    for _ in range(n):
        hardness = rng.gauss(0.0, 0.15)
        length = math.exp(rng.gauss(0.0, 0.5))
        o_row, c_row, q_row, k_row = [], [], [], []
        for p, _ in enumerate(providers):
            o = min(1.0, max(0.0, mean_q[p] - hardness + rng.gauss(0.0, 0.12)))
            if uniform:
                o = rng.random()
            c = unit_cost[p] * length * (1.0 + 0.2 * rng.random())
            q = o + rng.gauss(0.0, est_noise) if est_noise is not None else rng.random()
            q *= est_scale
            k = c * math.exp(rng.gauss(0.0, cost_noise))
            if quantize:
                o = round(o * 2) / 2  # 0, 0.5, 1
                c = est_unit_cost[p] * (1 + round(length))  # few distinct costs, some shared
                q = round(q, 1)
                k = est_unit_cost[p] * (1 + round(length * 2) / 2)
            o_row.append(r(o, 4))
            c_row.append(r(c, 9))
            q_row.append(r(q, 5))
            k_row.append(r(k, 9))
        outcomes.append(o_row)
        costs.append(c_row)
        est_q.append(q_row)
        est_c.append(k_row)
    return {"name": name, "providers": providers, "outcomes": outcomes, "costs": costs,
            "est_quality": est_q, "est_cost": est_c}


def to_records(case):
    ps = case["providers"]
    records, labels = [], []
    for o, c, q, k in zip(case["outcomes"], case["costs"], case["est_quality"], case["est_cost"]):
        records.append({"prompt": "", "outcomes": dict(zip(ps, o)), "cost_usd": dict(zip(ps, c))})
        # default decision: the provider with the best estimate (first on ties)
        best = max(range(len(ps)), key=lambda i: (q[i], -i))
        labels.append({"quality": dict(zip(ps, q)), "cost_usd": dict(zip(ps, k)), "provider": ps[best]})
    return records, labels


def pair_case(name, rng, n, binary, informative):
    strong, weak, scores = [], [], []
    distinct = rng.sample(range(1, 10_000_000), n)  # distinct integers: tie-free scores
    for i in range(n):
        if binary:
            s = 1.0 if rng.random() < 0.8 else 0.0
            w = s if rng.random() < 0.7 else 0.0
        else:
            s = r(min(1.0, max(0.0, rng.gauss(0.75, 0.2))), 4)
            w = r(min(1.0, max(0.0, s - abs(rng.gauss(0.1, 0.15)))), 4)
        strong.append(s)
        weak.append(w)
        u = distinct[i] / 10_000_000
        scores.append(r((s - w) + 0.5 * u if informative else u, 7))
    assert len(set(scores)) == n, "pair scores must be tie-free"
    return {"name": name, "scores": scores, "strong": strong, "weak": weak}


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    m = load(sys.argv[1])
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(here, "..", "tests", "fixtures", "metrics", "case.json")

    rng = random.Random(20240611)
    providers4 = ["small", "medium", "large", "frontier"]
    routing = [
        routing_case("informative", rng, 300, providers4, [0.55, 0.68, 0.78, 0.82],
                     [0.0002, 0.001, 0.004, 0.015], 0.08, 0.2),
        routing_case("quantized", rng, 200, ["a", "b", "c"], [0.7, 0.5, 0.75],
                     [0.001, 0.002, 0.006], 0.1, 0.0, quantize=True, est_unit_cost=[0.002, 0.002, 0.006]),
        # Accurate estimates of independent outcomes: quality stays above the best single provider's over
        # the whole drop sweep, so the saving peaks at the last drop (0.3).
        routing_case("uniform", rng, 240, providers4, [0.5] * 4,
                     [0.0002, 0.001, 0.004, 0.015], 0.01, 0.05, uniform=True, est_scale=3.0),
        routing_case("uninformative", rng, 150, providers4, [0.55, 0.68, 0.78, 0.82],
                     [0.0002, 0.001, 0.004, 0.015], None, 0.3),
    ]
    # A dearer copy of the best provider, listed before it: the best single provider is the cheaper of
    # two with equal quality.
    quant = routing[1]
    for key, f in [("outcomes", 1.0), ("costs", 2.0), ("est_quality", 1.0), ("est_cost", 2.0)]:
        for row in quant[key]:
            row.insert(2, r(row[2] * f, 9))
    quant["providers"].insert(2, "c-dear")
    # Estimates that always pick the best single provider: a point at exactly its quality, saving 0.
    always = routing_case("always-best", rng, 120, providers4, [0.55, 0.68, 0.78, 0.82],
                          [0.0002, 0.001, 0.004, 0.015], 0.05, 0.1)
    n_always = len(always["outcomes"])
    means = [sum(row[p] for row in always["outcomes"]) / n_always for p in range(4)]
    top = max(range(4), key=lambda p: means[p])
    always["est_quality"] = [[1.0 if p == top else 0.0 for p in range(4)] for _ in range(n_always)]
    # ...and whose cost estimates make the oracle's pick the cheapest, so the last point of the aiq sweep
    # (drop 1.0, where every provider qualifies) is the oracle's: on the envelope, and only there.
    for o_row, k_row in zip(always["outcomes"], always["est_cost"]):
        best_o = max(o_row)
        pick = min((p for p in range(4) if o_row[p] >= best_o), key=lambda p: k_row[p])
        k_row[pick] = r(k_row[pick] / 1000, 12)
    routing.append(always)
    for case in routing:
        records, labels = to_records(case)
        ps = case["providers"]
        sab = m.saving_at_best(records, labels, ps)
        sab["best_single"] = ps.index(sab["best_single"])
        case["default_choice"] = [ps.index(lab["provider"]) for lab in labels]
        case["saving_at_best"] = sab
        case["aiq"] = m.aiq(records, labels, ps)

    pairs = [
        pair_case("binary-informative", rng, 400, True, True),
        pair_case("continuous-random", rng, 250, False, False),
        pair_case("continuous-informative", rng, 333, False, True),
    ]
    for case in pairs:
        case["curve"] = m.pgr_curve(case["scores"], case["strong"], case["weak"])
        case["pair_metrics"] = m.pair_metrics(case["scores"], case["strong"], case["weak"])

    # Envelope point sets with duplicates, equal costs (vertical hull edges), dominated and collinear points.
    point_sets = [
        [[1.0, 0.5], [2.0, 0.7], [3.0, 0.75], [4.0, 0.8]],
        [[1.0, 0.5], [1.0, 0.7], [2.0, 0.6], [3.0, 0.9], [3.0, 0.9], [5.0, 0.85]],
        [[0.5, 0.2], [1.0, 0.4], [1.5, 0.6], [4.0, 0.3]],
        [[2.0, 0.9]],
        [[0.001, 0.61], [0.0123, 0.74], [0.05, 0.8], [0.02, 0.79], [0.2, 0.8], [0.04, 0.55]],
    ]
    envelopes = []
    for pts in point_sets:
        tuples = [tuple(p) for p in pts]
        xs = [p[0] for p in pts]
        lo, hi = min(xs), max(xs)
        probes = sorted(set(xs + [lo - 0.5, hi + 1.0, (lo + hi) / 2, lo + (hi - lo) / 3]))
        envelopes.append({
            "points": pts,
            "lo": lo, "hi": hi,
            "mean400": m._envelope(tuples, lo, hi),
            "mean7_wide": m._envelope(tuples, lo - 1.0, hi + 1.0, steps=7),
            "at": [[c, m._envelope(tuples, c, c, steps=1)] for c in probes],
        })

    doc = {
        "generator": "scripts/metrics-reference.py",
        "python": sys.version.split()[0],
        "routing": routing,
        "pairs": pairs,
        "envelopes": envelopes,
    }
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w", encoding="utf-8") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    for case in routing:
        s = case["saving_at_best"]
        print(case["name"], "saving", s["saving"], "point", s["point"], "aiq", case["aiq"])
    for case in pairs:
        print(case["name"], case["pair_metrics"])


if __name__ == "__main__":
    main()
