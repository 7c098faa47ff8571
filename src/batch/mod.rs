//! The batch doors: `triage embed` and `triage label` over prompt logs, streaming, in input order.

pub mod embed;
pub mod label;
pub mod output;
pub mod progress;
pub mod summary;

/// How many records are read, embedded and written as one window; memory is bounded by this, not by input size.
pub const WINDOW: usize = 512;
