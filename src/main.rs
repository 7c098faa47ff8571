//! The `triage` binary: parse flags, run one door, map the outcome to an exit code.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

use clap::{CommandFactory, FromArgMatches};
use std::io::IsTerminal;
use std::process::ExitCode;
use triage::artifacts::ArtifactSource;
use triage::cli::{inputs_or_stdin, Cli, Command, ModelAction, PricesAction, Settings};
use triage::embedding::{acquire, PrecisionChoice};
use triage::error::{Error, Result, EXIT_BAD_RECORDS, EXIT_OK};
use triage::input::FieldChoice;

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // Built once per process, so leaking it is what clap's `&'static str` asks for.
    let version: &'static str = Box::leak(triage::cli::version_text(&args).into_boxed_str());
    let matches = Cli::command().version(version).get_matches_from(&args);
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    init_tracing(&cli.global.log);
    let code = match run(cli) {
        Ok(code) => code,
        // The reader of our output left (`triage label … | head`): stop quietly, as ripgrep does.
        Err(Error::BrokenPipe) => EXIT_OK,
        Err(e) => {
            eprintln!("triage: {e}");
            e.exit_code()
        }
    };
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

fn init_tracing(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour codes only for a person at a terminal: a log file or journald gets plain text.
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

fn run(cli: Cli) -> Result<i32> {
    let mut settings = Settings::resolve(&cli.global)?;
    triage::configure_threads(settings.embedder.threads);
    if cli.global.retrain {
        retrain(&settings, cli.global.force)?;
        // A subcommand after the retrain uses what it wrote (the per-user folder may be new).
        settings.artifacts = ArtifactSource::resolve(cli.global.models_dir.as_deref());
    }
    let Some(command) = cli.command else {
        if cli.global.retrain {
            return Ok(EXIT_OK);
        }
        return Err(Error::Usage(
            "nothing to do: give a subcommand or --retrain (see `triage --help`)".into(),
        ));
    };
    match command {
        Command::Embed(args) => {
            let embedder =
                triage::embedding::load(&settings.embedder)?.with_batch_size(args.batch_size);
            let fields = FieldChoice { field: args.field };
            let summary = triage::batch::embed::run(
                &embedder,
                &inputs_or_stdin(&args.inputs),
                args.input_format,
                &fields,
                args.output.as_deref(),
            )?;
            if summary.bad > 0 {
                eprintln!(
                    "triage: {} of {} records were bad (reported above, with an error line in the output)",
                    summary.bad, summary.records
                );
                return Ok(EXIT_BAD_RECORDS);
            }
            Ok(EXIT_OK)
        }
        Command::Label(args) => triage::batch::label::run(&args.job(&settings)?),
        Command::Serve(args) => triage::server::run(args.config(&settings)?, settings.embedder),
        Command::Collect(args) => triage::collect::run(&args.job(&settings)?),
        Command::Model { action } => {
            let cache = &settings.embedder.model_cache;
            match action {
                ModelAction::Fetch { from_dir } => {
                    let files = match from_dir {
                        Some(dir) => acquire::install_from_dir(cache, &dir)?,
                        None => acquire::acquire(cache)?.0,
                    };
                    println!("{}", model_dir(&files).display());
                    Ok(EXIT_OK)
                }
                ModelAction::Path => {
                    let files = acquire::find_cached(cache).ok_or_else(|| {
                        Error::ModelUnavailable(format!(
                            "not in {}; run `triage model fetch`",
                            cache.display()
                        ))
                    })?;
                    println!("{}", model_dir(&files).display());
                    println!("artifacts: {}", settings.artifacts.describe());
                    Ok(EXIT_OK)
                }
            }
        }
        Command::Prices {
            action:
                PricesAction::Update {
                    from,
                    python,
                    force,
                },
        } => {
            let dir = settings.retrain_dir.as_deref().ok_or_else(|| {
                Error::Usage(
                    "prices update needs --models-dir (there is no home folder for the per-user models folder)"
                        .into(),
                )
            })?;
            let source = match from {
                Some(p) => triage::price_update::PriceSource::File(p),
                None => triage::price_update::PriceSource::InstalledLitellm { python },
            };
            let out = triage::price_update::update(dir, &source, force)?;
            eprintln!(
                "triage: wrote {} ({} models with token prices) from {}",
                out.written.display(),
                out.models,
                out.from
            );
            Ok(EXIT_OK)
        }
        Command::Completions { shell } => {
            let mut cmd = Cli::command();
            clap_complete::generate(shell, &mut cmd, "triage", &mut std::io::stdout());
            Ok(EXIT_OK)
        }
        Command::Man => {
            let mut page = Vec::new();
            clap_mangen::Man::new(Cli::command())
                .render(&mut page)
                .map_err(|e| Error::io("rendering the man page to", "<stdout>", e))?;
            std::io::Write::write_all(&mut std::io::stdout(), &page)
                .map_err(|e| Error::io("writing", "<stdout>", e))?;
            Ok(EXIT_OK)
        }
    }
}

fn retrain(settings: &Settings, force: bool) -> Result<()> {
    let models_dir = settings.retrain_dir.as_deref().ok_or_else(|| {
        Error::Usage(
            "--retrain needs --models-dir (there is no home folder for the per-user models folder)"
                .into(),
        )
    })?;
    // The heads are fitted on f32 embeddings, and the embedding cache keeps them by text: a retrain never
    // embeds in int8.
    let mut embedder_settings = settings.embedder.clone();
    embedder_settings.precision = PrecisionChoice::Fp32;
    let embedder = triage::embedding::load(&embedder_settings)?;
    let outcome = triage::training::retrain::retrain(
        &settings.training_data,
        models_dir,
        &embedder,
        Some(&settings.probe),
        Some(&triage::training::retrain::FeedbackInput {
            dir: settings.feedback_dir.clone(),
            collected: settings.collected.clone(),
            weight: settings.feedback_weight,
        }),
        force,
        std::io::stderr().is_terminal(),
    )?;
    print!("{}", outcome.text);
    Ok(())
}

fn model_dir(files: &acquire::ModelFiles) -> &std::path::Path {
    files.weights.parent().unwrap_or(std::path::Path::new("."))
}
