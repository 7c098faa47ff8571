//! Classification and ranking figures: Spearman, ROC AUC, accuracy, macro F1.

/// 1-based ranks, equal values sharing the average of their ranks. Values must not be NaN.
fn average_ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; values.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        // == (not total_cmp) so that 0.0 and -0.0 tie; they are adjacent in the sorted order.
        while end < order.len() && values[order[end]] == values[order[start]] {
            end += 1;
        }
        // Ranks start+1 ..= end share their mean.
        let rank = (start + 1 + end) as f64 / 2.0;
        for &i in &order[start..end] {
            ranks[i] = rank;
        }
        start = end;
    }
    ranks
}

/// Spearman's rank correlation of `a` and `b`: Pearson's correlation of their average ranks (ties share
/// the mean rank). Uses the first `min(len)` pairs; NaN with fewer than two pairs, a NaN value, or a
/// constant input.
pub fn spearman(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    if n < 2 || a.iter().chain(b).any(|v| v.is_nan()) {
        return f64::NAN;
    }
    let (ra, rb) = (average_ranks(a), average_ranks(b));
    let mean = (n as f64 + 1.0) / 2.0; // mean of any average-rank vector
    let (mut cov, mut va, mut vb) = (0.0, 0.0, 0.0);
    for (x, y) in ra.iter().zip(&rb) {
        let (dx, dy) = (x - mean, y - mean);
        cov += dx * dy;
        va += dx * dx;
        vb += dy * dy;
    }
    if va == 0.0 || vb == 0.0 {
        return f64::NAN;
    }
    cov / (va * vb).sqrt()
}

/// Area under the ROC curve of `scores` for the positives in `labels` (higher score = more likely
/// positive): the Mann–Whitney probability that a random positive outscores a random negative, a tie
/// counting one half. Uses the first `min(len)` pairs; NaN without a positive or a negative, or with a
/// NaN score.
pub fn roc_auc(scores: &[f64], labels: &[bool]) -> f64 {
    let n = scores.len().min(labels.len());
    let (scores, labels) = (&scores[..n], &labels[..n]);
    if scores.iter().any(|s| s.is_nan()) {
        return f64::NAN;
    }
    let pos = labels.iter().filter(|&&l| l).count() as f64;
    let neg = n as f64 - pos;
    if pos == 0.0 || neg == 0.0 {
        return f64::NAN;
    }
    let ranks = average_ranks(scores);
    let rank_sum: f64 = ranks
        .iter()
        .zip(labels)
        .filter(|(_, &l)| l)
        .map(|(r, _)| r)
        .sum();
    (rank_sum - pos * (pos + 1.0) / 2.0) / (pos * neg)
}

/// Fraction of positions where `pred` equals `truth`, over the first `min(len)` positions; NaN when
/// there are none.
pub fn accuracy<T: PartialEq>(pred: &[T], truth: &[T]) -> f64 {
    let n = pred.len().min(truth.len());
    if n == 0 {
        return f64::NAN;
    }
    pred.iter().zip(truth).filter(|(p, t)| p == t).count() as f64 / n as f64
}

/// Macro-averaged F1 over classes `0..n_classes`: the mean, over the classes that occur in `truth` or in
/// `pred`, of `F1 = 2·TP / (2·TP + FP + FN)`, which is 0 for a class without true positives.
///
/// Uses the first `min(len)` positions. A label `≥ n_classes` is not scored as a class of its own but
/// still counts as an error against the in-range class it is paired with. NaN when no in-range class
/// occurs.
pub fn macro_f1(pred: &[usize], truth: &[usize], n_classes: usize) -> f64 {
    let mut tp = vec![0usize; n_classes];
    let mut fp = vec![0usize; n_classes];
    let mut fn_ = vec![0usize; n_classes];
    let mut present = vec![false; n_classes];
    for (&p, &t) in pred.iter().zip(truth) {
        if let Some(seen) = present.get_mut(p) {
            *seen = true;
        }
        if let Some(seen) = present.get_mut(t) {
            *seen = true;
        }
        if p == t {
            if let Some(x) = tp.get_mut(t) {
                *x += 1;
            }
        } else {
            if let Some(x) = fp.get_mut(p) {
                *x += 1;
            }
            if let Some(x) = fn_.get_mut(t) {
                *x += 1;
            }
        }
    }
    let scored: Vec<f64> = (0..n_classes)
        .filter(|&c| present[c])
        .map(|c| {
            if tp[c] == 0 {
                0.0
            } else {
                2.0 * tp[c] as f64 / (2 * tp[c] + fp[c] + fn_[c]) as f64
            }
        })
        .collect();
    if scored.is_empty() {
        return f64::NAN;
    }
    scored.iter().sum::<f64>() / scored.len() as f64
}
