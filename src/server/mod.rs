//! The HTTP sidecar (`triage serve`): a gateway asks which provider should answer, then forwards the
//! prompt itself.
//!
//! - `POST /v1/classify`, `POST /v1/route`, `POST /v1/route/batch`, `GET /health`, `GET /metrics`,
//!   `GET /openapi.json` (see `docs/serve.md`); with `--proxy` also `POST /v1/chat/completions` and
//!   `GET /v1/models`, an OpenAI-compatible proxy that forwards to the chosen provider ([`proxy`],
//!   `docs/proxy.md`).
//! - Inference runs on one dedicated thread fed by a bounded queue with dynamic batching ([`queue`]);
//!   a full queue answers 429 with `Retry-After`, a passed deadline 504.
//! - The port is bound first and the model and artifacts load in the background: `/health` answers 503
//!   until both are loaded.
//! - New artifacts (a `--retrain`, an edited `providers.toml`) are swapped in atomically ([`reload`]);
//!   SIGHUP forces a reload. SIGTERM or Ctrl-C stop accepting, finish what is in flight and exit 0.

pub mod api;
pub mod cache;
pub mod config;
pub mod error;
pub mod feedback;
pub mod handlers;
pub mod metrics;
pub mod openapi;
pub mod proxy;
pub mod queue;
pub mod reload;
pub mod service;
pub mod sessions;
pub mod state;

pub use config::ServerConfig;
pub use state::AppState;

use crate::embedding::EmbedderSettings;
use crate::error::{Error, Result, EXIT_OK};
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use axum::Router;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// The router of the sidecar over `state` (no listener; tests and `run` serve it).
pub fn app(state: AppState) -> Router {
    let limit = state.config().max_body_bytes;
    let proxy = state.config().proxy.is_some();
    let router = if proxy {
        Router::new()
            .route("/v1/chat/completions", post(proxy::chat_completions))
            .route("/v1/models", get(proxy::models))
    } else {
        Router::new()
    };
    router
        .route("/v1/classify", post(handlers::classify))
        .route("/v1/route", post(handlers::route))
        .route("/v1/route/batch", post(handlers::route_batch))
        .route("/v1/feedback", post(handlers::feedback))
        .route("/health", get(handlers::health))
        .route("/metrics", get(handlers::metrics_text))
        .route("/openapi.json", get(openapi::serve_document))
        .fallback(handlers::not_found)
        .method_not_allowed_fallback(handlers::method_not_allowed)
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn(metrics::track))
        .with_state(state)
}

/// Serves `state` on `listener` until `shutdown` resolves, then stops accepting and waits for the
/// requests in flight.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = listener.tap_io(|tcp| {
        // Small JSON answers must not wait for Nagle's algorithm.
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown)
        .await
}

/// Runs `triage serve` with `config`, loading the embedder as `embedder` says, until SIGTERM or Ctrl-C;
/// returns the process exit code.
pub fn run(config: ServerConfig, embedder: EmbedderSettings) -> Result<i32> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.http_threads)
        .thread_name("triage-http")
        .enable_all()
        .build()
        .map_err(|e| Error::io("starting the async runtime for", &config.addr, e))?;
    let code = runtime.block_on(serve_main(embedder, config));
    // Blocking loader tasks (a model still loading) must not hold the exit.
    runtime.shutdown_timeout(Duration::from_secs(1));
    code
}

async fn serve_main(embedder: EmbedderSettings, config: ServerConfig) -> Result<i32> {
    let listener = tokio::net::TcpListener::bind(&config.addr)
        .await
        .map_err(|e| Error::io("listening on", &config.addr, e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::io("listening on", &config.addr, e))?;
    eprintln!("triage: listening on http://{addr} (loading the model and artifacts)");
    let grace = config.request_timeout + Duration::from_secs(5);
    let reload_interval = config.reload_interval;
    let state = AppState::new(config);
    let (stop_tx, stop_rx) = watch::channel(false);
    let stop_tx = Arc::new(stop_tx);

    tokio::spawn(wait_for_signals(state.clone(), Arc::clone(&stop_tx)));
    tokio::spawn(reload::watch(
        state.brain_slot(),
        reload_interval,
        stop_rx.clone(),
    ));
    tokio::spawn(upkeep(stop_rx.clone()));
    let mut loader = tokio::spawn(load(state.clone(), embedder));

    let server = serve(listener, state.clone(), stopped(stop_rx.clone()));
    tokio::pin!(server);
    let drained = async {
        stopped(stop_rx.clone()).await;
        tokio::time::sleep(grace).await;
    };
    tokio::pin!(drained);

    let mut load_error = None;
    let mut loading = true;
    loop {
        tokio::select! {
            served = &mut server => {
                served.map_err(|e| Error::io("serving on", addr.to_string(), e))?;
                break;
            }
            loaded = &mut loader, if loading => {
                loading = false;
                match loaded {
                    Ok(Ok(())) => {
                        eprintln!("triage: embedding on {}", state.engine().unwrap_or_default());
                        eprintln!("triage: ready on http://{addr}");
                    }
                    Ok(Err(e)) => {
                        load_error = Some(e);
                        state.begin_shutdown();
                        let _ = stop_tx.send(true);
                    }
                    Err(e) => {
                        load_error = Some(Error::ModelUnavailable(format!("loading task failed: {e}")));
                        state.begin_shutdown();
                        let _ = stop_tx.send(true);
                    }
                }
            }
            () = &mut drained => {
                tracing::warn!("connections still open after the shutdown grace period; exiting");
                break;
            }
        }
    }
    let _ = stop_tx.send(true);
    match load_error {
        Some(e) => Err(e),
        None => {
            eprintln!("triage: stopped");
            Ok(EXIT_OK)
        }
    }
}

/// Loads the artifacts, then the embedding model (the slower part), into `state`.
async fn load(state: AppState, settings: EmbedderSettings) -> Result<()> {
    state.load_brain().await?;
    // --max-batch is the most prompts per forward pass: the worker gathers up to that many, and the
    // embedder runs them as one pass (length-sorted).
    let max_batch = state.config().max_batch;
    let embedder = tokio::task::spawn_blocking(move || {
        // The labels' reading repairs typos from a word list; read it before the first request.
        crate::spelling::warm_up();
        crate::embedding::load(&settings).map(|e| e.with_batch_size(max_batch))
    })
    .await
    .map_err(|e| Error::ModelUnavailable(format!("loading task failed: {e}")))??;
    state.install_embedder(Arc::new(embedder))
}

/// Resolves once `stop` turns true.
async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Turns SIGTERM or Ctrl-C into a graceful stop.
async fn wait_for_signals(state: AppState, stop: Arc<watch::Sender<bool>>) {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
    eprintln!("triage: shutting down (finishing requests in flight)");
    state.begin_shutdown();
    let _ = stop.send(true);
}

/// Folds histogram samples into the exporter now and then, so memory stays flat between scrapes.
async fn upkeep(stop: watch::Receiver<bool>) {
    let Some(handle) = metrics::handle() else {
        return;
    };
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    let stop = stopped(stop);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => return,
            _ = tick.tick() => handle.run_upkeep(),
        }
    }
}
