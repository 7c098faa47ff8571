//! The HTTP sidecar (`triage serve`).

use crate::cli::{ServeArgs, Settings};
use crate::error::{Error, Result};

/// Runs the server until shutdown; returns the process exit code.
pub fn run(_settings: &Settings, _args: &ServeArgs) -> Result<i32> {
    Err(Error::Usage("`triage serve` is not built yet".into()))
}
