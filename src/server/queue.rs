//! The inference queue: a bounded channel in front of one dedicated worker thread that embeds prompts in
//! dynamic batches (after text-embeddings-inference's queue and batching task).
//!
//! Handlers never block: [`Inference::embed`] either enqueues a job at once or fails with
//! `Error::Overloaded` (429) when the queue is full, then awaits the reply until the request's deadline
//! (`Error::Timeout`, 504). The worker takes the first waiting job, everything else already waiting (up to
//! `max_batch` prompts), and, only when more than one job was waiting (the server is busy), waits up to
//! `batch_wait` for the batch to fill. A lone request on an idle server is never delayed. Jobs whose caller
//! has gone (timed out, disconnected) are dropped before the forward pass.

use crate::embedding::{Embedder, Embedding};
use crate::error::{Error, Result};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::time::Instant;

/// Metric names of the queue.
pub const QUEUE_DEPTH: &str = "triage_queue_depth";
pub const BATCH_SIZE: &str = "triage_batch_size";
pub const INFERENCE_SECONDS: &str = "triage_inference_duration_seconds";

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
    texts: Vec<String>,
    deadline: Instant,
    reply: oneshot::Sender<Result<Vec<Embedding>>>,
}

/// A handle to the worker; cheap to clone. The worker stops once every handle is dropped.
#[derive(Clone)]
pub struct Inference {
    tx: SyncSender<Job>,
    depth: Arc<AtomicUsize>,
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
        let handle = std::thread::Builder::new()
            .name("triage-inference".into())
            .spawn(move || worker(embedder.as_ref(), &rx, &worker_depth, settings))
            .map_err(|e| Error::Inference(format!("starting the inference thread: {e}")))?;
        Ok((Self { tx, depth }, handle))
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
        let (reply, rx) = oneshot::channel();
        let job = Job {
            texts,
            deadline,
            reply,
        };
        // Count before sending so the worker's decrement can never run first.
        let depth = self.depth.fetch_add(1, Ordering::Relaxed) + 1;
        match self.tx.try_send(job) {
            Ok(()) => metrics::gauge!(QUEUE_DEPTH).set(depth as f64),
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

fn worker(
    embedder: &dyn Embedder,
    rx: &mpsc::Receiver<Job>,
    depth: &AtomicUsize,
    settings: BatchSettings,
) {
    let taken = |depth: &AtomicUsize| {
        let left = depth.fetch_sub(1, Ordering::Relaxed).saturating_sub(1);
        metrics::gauge!(QUEUE_DEPTH).set(left as f64);
    };
    // Ends when every sender is gone (the server has shut down).
    while let Ok(first) = rx.recv() {
        taken(depth);
        let mut prompts = first.texts.len();
        let mut batch = vec![first];
        while prompts < settings.max_batch {
            match rx.try_recv() {
                Ok(job) => {
                    taken(depth);
                    prompts += job.texts.len();
                    batch.push(job);
                }
                Err(_) => break,
            }
        }
        if batch.len() > 1 && prompts < settings.max_batch && !settings.batch_wait.is_zero() {
            let until = std::time::Instant::now() + settings.batch_wait;
            while prompts < settings.max_batch {
                let left = until.saturating_duration_since(std::time::Instant::now());
                match rx.recv_timeout(left) {
                    Ok(job) => {
                        taken(depth);
                        prompts += job.texts.len();
                        batch.push(job);
                    }
                    Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => break,
                }
            }
        }
        run_batch(embedder, batch);
    }
}

fn run_batch(embedder: &dyn Embedder, batch: Vec<Job>) {
    let now = Instant::now();
    // Callers that timed out or went away need no answer.
    let live: Vec<Job> = batch
        .into_iter()
        .filter(|job| !job.reply.is_closed() && job.deadline > now)
        .collect();
    if live.is_empty() {
        return;
    }
    let texts: Vec<String> = live.iter().flat_map(|j| j.texts.iter().cloned()).collect();
    metrics::histogram!(BATCH_SIZE).record(texts.len() as f64);
    let started = std::time::Instant::now();
    // A panic inside the tokenizer or the tensor backend must not take the worker down with it.
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| embedder.embed_detailed(&texts)))
        .unwrap_or_else(|_| Err(Error::Inference("the embedder panicked".into())));
    metrics::histogram!(INFERENCE_SECONDS).record(started.elapsed().as_secs_f64());
    match result {
        Ok(embeddings) if embeddings.len() == texts.len() => {
            let mut rest = embeddings.into_iter();
            for job in live {
                let mine: Vec<Embedding> = rest.by_ref().take(job.texts.len()).collect();
                let _ = job.reply.send(Ok(mine));
            }
        }
        Ok(_) => {
            for job in live {
                let _ = job.reply.send(Err(Error::Inference(
                    "the embedder returned the wrong number of embeddings".into(),
                )));
            }
        }
        Err(e) => {
            tracing::error!(error = %e, prompts = texts.len(), "inference failed");
            let message = e.to_string();
            for job in live {
                let _ = job.reply.send(Err(Error::Inference(message.clone())));
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
        fn embed_detailed(&self, texts: &[String]) -> Result<Vec<Embedding>> {
            self.calls.lock().unwrap().push(texts.len());
            std::thread::sleep(self.sleep);
            if texts.iter().any(|t| t == "boom") {
                panic!("boom");
            }
            Ok(texts
                .iter()
                .map(|t| Embedding {
                    vector: vec![t.len() as f32],
                    tokens: t.len(),
                    truncated: false,
                    full_tokens: t.len(),
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
        assert!(matches!(err, Error::Inference(_)));
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
}
