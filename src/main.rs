//! The `triage` binary: parse flags, run one door, map the outcome to an exit code.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

use clap::Parser;
use std::process::ExitCode;
use triage::batch::input::FieldChoice;
use triage::cli::{Cli, Command, ModelAction, Settings};
use triage::embedding::acquire;
use triage::error::{Error, Result, EXIT_BAD_RECORDS, EXIT_OK};

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(&cli.global.log);
    let code = match run(cli) {
        Ok(code) => code,
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
        .try_init();
}

fn run(cli: Cli) -> Result<i32> {
    let settings = Settings::resolve(&cli.global)?;
    triage::configure_threads(settings.threads);
    if cli.global.retrain {
        retrain(&settings, cli.global.force)?;
    } else if cli.global.force {
        return Err(Error::Usage(
            "--force only makes sense with --retrain".into(),
        ));
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
            let embedder = triage::load_embedder(&settings)?.with_batch_size(args.batch_size);
            let inputs = if args.inputs.is_empty() {
                vec!["-".to_string()]
            } else {
                args.inputs
            };
            let fields = FieldChoice { field: args.field };
            let summary = triage::batch::embed::run(
                &embedder,
                &inputs,
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
        Command::Label(args) => triage::batch::label::run(&settings, &args),
        Command::Serve(args) => triage::server::run(&settings, &args),
        Command::Model { action } => match action {
            ModelAction::Fetch { from_dir } => {
                let files = match from_dir {
                    Some(dir) => acquire::install_from_dir(&settings.model_cache, &dir)?,
                    None => acquire::acquire(&settings.model_cache)?.0,
                };
                println!("{}", model_dir(&files).display());
                Ok(EXIT_OK)
            }
            ModelAction::Path => {
                let files = acquire::find_cached(&settings.model_cache).ok_or_else(|| {
                    Error::ModelUnavailable(format!(
                        "not in {}; run `triage model fetch`",
                        settings.model_cache.display()
                    ))
                })?;
                println!("{}", model_dir(&files).display());
                Ok(EXIT_OK)
            }
        },
    }
}

fn retrain(settings: &Settings, force: bool) -> Result<()> {
    use std::io::IsTerminal;
    let embedder = triage::load_embedder(settings)?;
    let outcome = triage::training::retrain::retrain(
        &settings.training_data,
        &settings.models_dir,
        &embedder,
        force,
        std::io::stderr().is_terminal(),
    )?;
    print!("{}", outcome.text);
    Ok(())
}

fn model_dir(files: &acquire::ModelFiles) -> &std::path::Path {
    files.weights.parent().unwrap_or(std::path::Path::new("."))
}
