//! Loads tokenizer.json with sentence-transformers' settings for this model (truncate at 256, no padding:
//! the engines take each text's own ids).

use super::MAX_TOKENS;
use crate::error::{Error, Result};
use std::path::Path;
use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

/// Reads `tokenizer.json` and replaces its shipped truncation (128) and fixed padding (128): the model was
/// trained and is evaluated with truncation at 256 tokens and no fixed padding; the tensor engine pads each batch
/// to its longest member itself, and pad positions never enter the mean.
pub fn load_tokenizer(path: &Path) -> Result<Tokenizer> {
    let mut tokenizer = Tokenizer::from_file(path).map_err(|e| {
        Error::ModelUnavailable(format!("cannot read tokenizer {}: {e}", path.display()))
    })?;
    tokenizer
        .with_truncation(Some(TruncationParams {
            max_length: MAX_TOKENS,
            strategy: TruncationStrategy::LongestFirst,
            stride: 0,
            direction: TruncationDirection::Right,
        }))
        .map_err(|e| Error::ModelUnavailable(format!("tokenizer truncation: {e}")))?;
    tokenizer.with_padding(None);
    Ok(tokenizer)
}
