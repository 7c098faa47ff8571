//! The inference queue: a bounded channel in front of one dedicated worker thread that embeds prompts in
//! dynamic batches (after text-embeddings-inference's queue and batching task).
//!
//! Handlers never block: [`Inference::embed`] tokenizes in the request path (on tokio's blocking pool, off
//! the async threads), then either enqueues the tokenized job at once or fails with `Error::Overloaded`
//! (429) when the queue is full, then awaits the reply until the request's deadline (`Error::Timeout`,
//! 504). The worker sees exact token counts, so it batches by real tokens. The worker takes the first waiting job, everything else already waiting (up to
//! `max_batch` prompts), and, only when more than one job arrived together (the server is busy), waits up
//! to `batch_wait` for the batch to fill. A lone request on an idle server is never delayed. Jobs in
//! progress share each forward pass round-robin, so a large batch request cannot starve small ones, and a
//! job whose caller has gone (timed out, disconnected) is dropped before the next pass.

use super::metrics::{BATCH_SIZE, INFERENCE_SECONDS, QUEUE_DEPTH};
use crate::embedding::{Embedder, Embedding, Tokenized};
use crate::error::{Error, Result};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::time::Instant;

/// How many tokens one forward pass may hold: about 16 prompts of 60 tokens, 4 of 256. On CPU the embedder's throughput stops growing at a few hundred tokens a pass, while
/// a pass's latency keeps growing with its tokens, and every request in the pass waits for all of it.
pub const PASS_TOKEN_BUDGET: usize = 1024;

/// Batching knobs of the worker.
#[derive(Debug, Clone, Copy)]
pub struct BatchSettings {
    /// Jobs that may wait; more get `Error::Overloaded`.
    pub capacity: usize,
    /// Most prompts per forward pass (a single job larger than this runs alone).
    pub max_batch: usize,
    /// How long to wait for a busy batch to fill.
    pub batch_wait: Duration,
}

struct Job {
    items: Vec<Tokenized>,
    deadline: Instant,
    reply: oneshot::Sender<Result<Vec<Embedding>>>,
}

/// A handle to the worker; cheap to clone. The worker stops once every handle is dropped.
#[derive(Clone)]
pub struct Inference {
    tx: SyncSender<Job>,
    depth: Arc<AtomicUsize>,
    embedder: Arc<dyn Embedder>,
}

impl Inference {
    /// Starts the worker thread for `embedder`.
    pub fn start(
        embedder: Arc<dyn Embedder>,
        settings: BatchSettings,
    ) -> Result<(Self, JoinHandle<()>)> {
        let (tx, rx) = mpsc::sync_channel::<Job>(settings.capacity.max(1));
        let depth = Arc::new(AtomicUsize::new(0));
        let worker_depth = Arc::clone(&depth);
        let worker_embedder = Arc::clone(&embedder);
        let handle = std::thread::Builder::new()
            .name("triage-inference".into())
            .spawn(move || worker(worker_embedder.as_ref(), &rx, &worker_depth, settings))
            .map_err(|e| Error::inference_from("starting the inference thread", e))?;
        Ok((
            Self {
                tx,
                depth,
                embedder,
            },
            handle,
        ))
    }

    /// Jobs waiting for the worker now.
    pub fn depth(&self) -> usize {
        self.depth.load(Ordering::Relaxed)
    }

    /// Embeds `texts` (in order) before `deadline`.
    pub async fn embed(&self, texts: Vec<String>, deadline: Instant) -> Result<Vec<Embedding>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let items = self.tokenize(texts, deadline).await?;
        let (reply, rx) = oneshot::channel();
        let job = Job {
            items,
            deadline,
            reply,
        };
        // Count before sending so the worker's decrement can never run first. The gauge moves by the same
        // steps (increments and decrements commute, so it settles at the true depth).
        self.depth.fetch_add(1, Ordering::Relaxed);
        match self.tx.try_send(job) {
            Ok(()) => metrics::gauge!(QUEUE_DEPTH).increment(1.0),
            Err(e) => {
                self.depth.fetch_sub(1, Ordering::Relaxed);
                return Err(match e {
                    TrySendError::Full(_) => Error::Overloaded,
                    TrySendError::Disconnected(_) => Error::Unavailable,
                });
            }
        }
        match tokio::time::timeout_at(deadline, rx).await {
            Ok(Ok(result)) => result,
            // The worker dropped the job (its deadline passed) or stopped.
            Ok(Err(_)) => {
                if Instant::now() >= deadline {
                    Err(Error::Timeout)
                } else {
                    Err(Error::Unavailable)
                }
            }
            Err(_) => Err(Error::Timeout),
        }
    }
}

impl Inference {
    /// Tokenizes on tokio's blocking pool (tokenizing a long prompt takes a fraction of a millisecond of
    /// CPU that must not stall the async threads); a tokenizer panic becomes an error.
    async fn tokenize(&self, texts: Vec<String>, deadline: Instant) -> Result<Vec<Tokenized>> {
        let embedder = Arc::clone(&self.embedder);
        let task = tokio::task::spawn_blocking(move || {
            std::panic::catch_unwind(AssertUnwindSafe(|| embedder.tokenize(&texts)))
                .unwrap_or_else(|_| Err(Error::inference("the tokenizer panicked")))
        });
        match tokio::time::timeout_at(deadline, task).await {
            Ok(Ok(result)) => result,
            Ok(Err(e)) => Err(Error::inference_from("tokenizing", e)),
            Err(_) => Err(Error::Timeout),
        }
    }
}

/// A job being answered: the embeddings so far, or why it failed.
struct Pending {
    job: Job,
    done: Vec<Embedding>,
    failed: Option<Error>,
}

impl Pending {
    fn new(job: Job) -> Self {
        Self {
            done: Vec::with_capacity(job.items.len()),
            job,
            failed: None,
        }
    }

    /// Prompts not yet embedded.
    fn left(&self) -> usize {
        self.job.items.len() - self.done.len()
    }

    /// Whether anyone still waits for this job.
    fn wanted(&self, now: Instant) -> bool {
        self.failed.is_none() && !self.job.reply.is_closed() && self.job.deadline > now
    }

    /// Sends the answer if the job is finished or failed; returns whether it is settled.
    fn settle(&mut self, now: Instant) -> bool {
        if let Some(e) = self.failed.take() {
            let (tx, _) = oneshot::channel();
            let reply = std::mem::replace(&mut self.job.reply, tx);
            let _ = reply.send(Err(e));
            return true;
        }
        if self.left() == 0 {
            let (tx, _) = oneshot::channel();
            let reply = std::mem::replace(&mut self.job.reply, tx);
            let _ = reply.send(Ok(std::mem::take(&mut self.done)));
            return true;
        }
        // Deadline passed or caller gone: dropping the job's sender tells a caller still waiting.
        !self.wanted(now)
    }
}

/// The worker loop. Jobs in progress are served round-robin, one prompt per job per turn, into forward
/// passes of at most `max_batch` prompts: a large `/v1/route/batch` request shares every pass with the
/// small requests that arrive meanwhile instead of blocking them, and a job whose deadline passed or whose
/// caller left stops costing work at the next pass.
fn worker(
    embedder: &dyn Embedder,
    rx: &mpsc::Receiver<Job>,
    depth: &AtomicUsize,
    settings: BatchSettings,
) {
    let max_batch = settings.max_batch.max(1);
    let taken = |depth: &AtomicUsize| {
        depth.fetch_sub(1, Ordering::Relaxed);
        metrics::gauge!(QUEUE_DEPTH).decrement(1.0);
    };
    let mut active: Vec<Pending> = Vec::new();
    loop {
        // Intake: block only when idle; ends when every sender is gone and nothing is in progress.
        let mut arrived = 0;
        if active.is_empty() {
            match rx.recv() {
                Ok(job) => {
                    taken(depth);
                    active.push(Pending::new(job));
                    arrived += 1;
                }
                Err(_) => return,
            }
        }
        // At most `max_batch` jobs are in progress; the rest wait in the bounded channel (429 when full).
        let prompts = |active: &[Pending]| active.iter().map(Pending::left).sum::<usize>();
        while active.len() < max_batch {
            match rx.try_recv() {
                Ok(job) => {
                    taken(depth);
                    active.push(Pending::new(job));
                    arrived += 1;
                }
                Err(_) => break,
            }
        }
        // Busy (more than one request came in together): give the batch a moment to fill.
        if arrived > 1 && prompts(&active) < max_batch && !settings.batch_wait.is_zero() {
            let until = std::time::Instant::now() + settings.batch_wait;
            while prompts(&active) < max_batch && active.len() < max_batch {
                let left = until.saturating_duration_since(std::time::Instant::now());
                match rx.recv_timeout(left) {
                    Ok(job) => {
                        taken(depth);
                        active.push(Pending::new(job));
                    }
                    Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => break,
                }
            }
        }

        let now = Instant::now();
        active.retain_mut(|p| !p.settle(now));
        let picks = round_robin(&active, max_batch);
        if !picks.is_empty() {
            run_pass(embedder, &mut active, &picks);
        }
        let now = Instant::now();
        active.retain_mut(|p| !p.settle(now));
    }
}

/// Which job each prompt of the next pass comes from: one prompt per job per turn, up to `max_batch`
/// prompts and at most [`PASS_TOKEN_BUDGET`] tokens (always at least one prompt), so a pass of long prompts
/// stays short and the requests that share it are not held up for long.
fn round_robin(active: &[Pending], max_batch: usize) -> Vec<usize> {
    let mut taken = vec![0usize; active.len()];
    let mut picks = Vec::with_capacity(max_batch);
    let mut tokens = 0;
    loop {
        let before = picks.len();
        for (j, p) in active.iter().enumerate() {
            if picks.len() == max_batch {
                return picks;
            }
            let Some(t) = taken.get_mut(j) else { continue };
            let Some(item) = p.job.items.get(p.done.len() + *t) else {
                continue;
            };
            let cost = item.ids.len();
            if !picks.is_empty() && tokens + cost > PASS_TOKEN_BUDGET {
                return picks;
            }
            tokens += cost;
            *t += 1;
            picks.push(j);
        }
        if picks.len() == before {
            return picks;
        }
    }
}

/// One forward pass over the next prompts of the picked jobs (in job order, so each job's embeddings
/// stay in prompt order).
fn run_pass(embedder: &dyn Embedder, active: &mut [Pending], picks: &[usize]) {
    let mut picks = picks.to_vec();
    picks.sort_unstable();
    let mut items = Vec::with_capacity(picks.len());
    let mut offset = 0;
    for (k, &j) in picks.iter().enumerate() {
        offset = if k > 0 && picks.get(k - 1) == Some(&j) {
            offset + 1
        } else {
            0
        };
        if let Some(p) = active.get(j) {
            if let Some(t) = p.job.items.get(p.done.len() + offset) {
                items.push(t.clone());
            }
        }
    }
    metrics::histogram!(BATCH_SIZE).record(items.len() as f64);
    let started = std::time::Instant::now();
    // A panic inside the tokenizer or the tensor backend must not take the worker down with it.
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| embedder.embed_tokenized(&items)))
        .unwrap_or_else(|_| Err(Error::inference("the embedder panicked")));
    metrics::histogram!(INFERENCE_SECONDS).record(started.elapsed().as_secs_f64());
    match result {
        Ok(embeddings) if embeddings.len() == picks.len() && items.len() == picks.len() => {
            for (&j, e) in picks.iter().zip(embeddings) {
                if let Some(p) = active.get_mut(j) {
                    p.done.push(e);
                }
            }
        }
        other => {
            let message = match other {
                Err(e) => e.to_string(),
                Ok(_) => "the embedder returned the wrong number of embeddings".to_string(),
            };
            tracing::error!(error = %message, prompts = items.len(), "inference failed");
            for &j in &picks {
                if let Some(p) = active.get_mut(j) {
                    p.failed = Some(Error::inference(message.clone()));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Records the size of each call and sleeps a little, like a real forward pass.
    struct Fake {
        calls: Mutex<Vec<usize>>,
        sleep: Duration,
    }

    impl Embedder for Fake {
        /// One token per byte.
        fn tokenize(&self, texts: &[String]) -> Result<Vec<Tokenized>> {
            Ok(texts
                .iter()
                .map(|t| Tokenized {
                    ids: t.bytes().map(u32::from).collect(),
                    truncated: false,
                    full_tokens: t.len(),
                })
                .collect())
        }
        fn embed_tokenized(&self, items: &[Tokenized]) -> Result<Vec<Embedding>> {
            self.calls.lock().unwrap().push(items.len());
            std::thread::sleep(self.sleep);
            let boom: Vec<u32> = b"boom".iter().map(|&b| u32::from(b)).collect();
            if items.iter().any(|t| t.ids == boom) {
                panic!("boom");
            }
            Ok(items
                .iter()
                .map(|t| Embedding {
                    vector: vec![t.ids.len() as f32],
                    mid_layer: Vec::new(),
                    tokens: t.ids.len(),
                    truncated: false,
                    full_tokens: t.full_tokens,
                })
                .collect())
        }
        fn model_id(&self) -> &str {
            "fake"
        }
    }

    fn settings(capacity: usize) -> BatchSettings {
        BatchSettings {
            capacity,
            max_batch: 8,
            batch_wait: Duration::from_millis(2),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn batches_keep_order_and_survive_panics() {
        let fake = Arc::new(Fake {
            calls: Mutex::new(Vec::new()),
            sleep: Duration::from_millis(20),
        });
        let (q, _h) = Inference::start(fake.clone(), settings(64)).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut tasks = Vec::new();
        for i in 0..20 {
            let q = q.clone();
            tasks.push(tokio::spawn(async move {
                let text = "x".repeat(i + 1);
                let e = q.embed(vec![text.clone(), "ab".into()], deadline).await;
                (i, e)
            }));
        }
        for t in tasks {
            let (i, e) = t.await.unwrap();
            let e = e.unwrap();
            assert_eq!(e.len(), 2);
            assert_eq!(e[0].tokens, i + 1);
            assert_eq!(e[1].tokens, 2);
        }
        // Requests that waited together were embedded together.
        assert!(fake.calls.lock().unwrap().iter().any(|&n| n > 2));
        let err = q.embed(vec!["boom".into()], deadline).await.unwrap_err();
        assert!(matches!(err, Error::Inference { .. }));
        // The worker is still alive.
        assert_eq!(q.embed(vec!["ok".into()], deadline).await.unwrap().len(), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn full_queue_and_deadlines() {
        let fake = Arc::new(Fake {
            calls: Mutex::new(Vec::new()),
            sleep: Duration::from_millis(50),
        });
        let (q, _h) = Inference::start(fake, settings(1)).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut tasks = Vec::new();
        for _ in 0..6 {
            let q = q.clone();
            tasks.push(tokio::spawn(async move {
                q.embed(vec!["a".into()], deadline).await
            }));
        }
        let mut overloaded = 0;
        for t in tasks {
            if let Err(e) = t.await.unwrap() {
                assert!(matches!(e, Error::Overloaded), "{e}");
                overloaded += 1;
            }
        }
        assert!(overloaded >= 1);
        let soon = Instant::now() + Duration::from_millis(1);
        let e = q.embed(vec!["b".into()], soon).await.unwrap_err();
        assert!(matches!(e, Error::Timeout));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn small_requests_share_passes_with_a_large_one() {
        let fake = Arc::new(Fake {
            calls: Mutex::new(Vec::new()),
            sleep: Duration::from_millis(20),
        });
        let (q, _h) = Inference::start(fake.clone(), settings(16)).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let big_q = q.clone();
        let big = tokio::spawn(async move {
            let texts: Vec<String> = (0..120).map(|i| "b".repeat(i + 1)).collect();
            let e = big_q.embed(texts, deadline).await.unwrap();
            // Order within the job is kept across passes.
            assert!(e.iter().enumerate().all(|(i, e)| e.tokens == i + 1));
            Instant::now()
        });
        tokio::time::sleep(Duration::from_millis(30)).await;
        let e = q.embed(vec!["small".into()], deadline).await.unwrap();
        let small_done = Instant::now();
        assert_eq!(e[0].tokens, 5);
        let big_done = big.await.unwrap();
        assert!(
            small_done < big_done,
            "the small request waited for the large one"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_timed_out_large_job_stops_costing_work() {
        let fake = Arc::new(Fake {
            calls: Mutex::new(Vec::new()),
            sleep: Duration::from_millis(60),
        });
        let (q, _h) = Inference::start(fake.clone(), settings(4)).unwrap();
        let texts: Vec<String> = (0..80).map(|i| format!("t{i}")).collect();
        let deadline = Instant::now() + Duration::from_millis(100);
        let e = q.embed(texts, deadline).await.unwrap_err();
        assert!(matches!(e, Error::Timeout));
        // The worker is free again soon, having run 2 or 3 of the 10 passes.
        let later = Instant::now() + Duration::from_secs(5);
        assert_eq!(q.embed(vec!["x".into()], later).await.unwrap().len(), 1);
        let calls = fake.calls.lock().unwrap().clone();
        assert!(calls.len() <= 5, "{calls:?}");
        assert!(calls.iter().all(|&n| n <= 8), "{calls:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn passes_are_cut_by_exact_token_counts() {
        let fake = Arc::new(Fake {
            calls: Mutex::new(Vec::new()),
            sleep: Duration::ZERO,
        });
        let (q, _h) = Inference::start(fake.clone(), settings(4)).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        // 300 tokens each (the fake tokenizes a byte a token): three fit the 1,024-token budget, four do not.
        let texts: Vec<String> = (0..7).map(|_| "y".repeat(300)).collect();
        let e = q.embed(texts, deadline).await.unwrap();
        assert!(e.iter().all(|e| e.tokens == 300));
        assert_eq!(*fake.calls.lock().unwrap(), vec![3, 3, 1]);
        // Short prompts fill a pass up to max_batch.
        fake.calls.lock().unwrap().clear();
        let texts: Vec<String> = (0..8).map(|_| "z".repeat(100)).collect();
        q.embed(texts, deadline).await.unwrap();
        assert_eq!(*fake.calls.lock().unwrap(), vec![8]);
    }
}
