"""What the pool generators (make-easy-pool.py, make-hard-pool.py) share: the guard that keeps generated
rows apart from the hand-written probe sets (probe/ and its subfolders, never trained on), and the atomic
writer of their output.

A generated prompt is dropped when it equals a probe prompt (lowercase, whitespace collapsed, first 200
characters) or when its word set overlaps a probe prompt's by a Jaccard index of at least NEAR: a close
paraphrase ("Write a sestina about grief." against "Write a villanelle about grief.") would let the probe
measure memory instead of transfer.
"""
import json
import re
from pathlib import Path

PROBE = Path(__file__).resolve().parent.parent / "probe"
NEAR = 0.6


def norm(text):
    return " ".join(text.lower().split())[:200]


def words(text):
    return frozenset(re.findall(r"\w+", text.lower()))


class ProbeGuard:
    """Every probe set: probe/'s own files and those of each subfolder (a later set)."""

    def __init__(self):
        self.exact, self.word_sets = set(), []
        files = sorted(PROBE.glob("pairs.jsonl")) + sorted(PROBE.glob("domains.jsonl"))
        files += sorted(PROBE.glob("*/pairs.jsonl")) + sorted(PROBE.glob("*/domains.jsonl"))
        for path in files:
            for line in path.read_text().splitlines():
                r = json.loads(line)
                for key in ("easier", "harder", "prompt"):
                    if key in r:
                        self.exact.add(norm(r[key]))
                        self.word_sets.append(words(r[key]))

    def too_close(self, prompt):
        if norm(prompt) in self.exact:
            return True
        w = words(prompt)
        return any(len(w & p) >= NEAR * len(w | p) for p in self.word_sets if w | p)


def write_jsonl(path, rows):
    """Writes `rows` as JSON lines to a temporary file beside `path`, then renames it over `path`, so an
    interrupted run leaves the previous file whole."""
    tmp = path.with_suffix(".tmp")
    with tmp.open("w") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    tmp.replace(path)
