//! `triage label`: labels every record of prompt logs and projects the cost of routing them.

use crate::cli::{LabelArgs, Settings};
use crate::error::{Error, Result};

/// Runs the label door; returns the process exit code.
pub fn run(_settings: &Settings, _args: &LabelArgs) -> Result<i32> {
    Err(Error::Usage("`triage label` is not built yet".into()))
}
