//! On-disk cache of prompt embeddings keyed by (model id, text), so a retrain embeds only new prompts.
//!
//! Append-only binary file of fixed-size records: sha256(model id, text) (32 bytes), the vector
//! (384 little-endian f32), tokens (u32), full tokens (u32), truncated (u8). A torn final record
//! (a crash mid-append) is ignored on load.

use crate::embedding::{Embedder, Embedding, EMBEDDING_DIM};
use crate::error::{Error, Result};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

const RECORD: usize = 32 + EMBEDDING_DIM * 4 + 4 + 4 + 1;

/// The cache, loaded in memory.
pub struct EmbeddingCache {
    path: PathBuf,
    entries: HashMap<[u8; 32], Embedding>,
}

fn key(model_id: &str, text: &str) -> [u8; 32] {
    Sha256::new()
        .chain_update(model_id.as_bytes())
        .chain_update([0u8])
        .chain_update(text.as_bytes())
        .finalize()
        .into()
}

impl EmbeddingCache {
    /// Opens (or starts) the cache file at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        let mut entries = HashMap::new();
        if path.exists() {
            let bytes = std::fs::read(path).map_err(|e| Error::io("reading", path, e))?;
            for rec in bytes.chunks_exact(RECORD) {
                let mut k = [0u8; 32];
                k.copy_from_slice(&rec[..32]);
                let floats = &rec[32..32 + EMBEDDING_DIM * 4];
                let vector = floats
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect();
                let at = 32 + EMBEDDING_DIM * 4;
                let u32_at = |i: usize| {
                    u32::from_le_bytes([rec[i], rec[i + 1], rec[i + 2], rec[i + 3]]) as usize
                };
                entries.insert(
                    k,
                    Embedding {
                        vector,
                        tokens: u32_at(at),
                        full_tokens: u32_at(at + 4),
                        truncated: rec[at + 8] != 0,
                    },
                );
            }
        }
        Ok(Self {
            path: path.to_path_buf(),
            entries,
        })
    }

    /// Number of cached embeddings.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Embeddings for `texts` in order, embedding (and appending to the file) only those not cached.
    /// `progress` is called with (texts embedded so far, texts to embed).
    pub fn embed_all(
        &mut self,
        embedder: &dyn Embedder,
        texts: &[String],
        mut progress: impl FnMut(usize, usize),
    ) -> Result<Vec<Embedding>> {
        let model = embedder.model_id().to_string();
        let keys: Vec<[u8; 32]> = texts.iter().map(|t| key(&model, t)).collect();
        let mut seen = std::collections::HashSet::new();
        let missing: Vec<usize> = (0..texts.len())
            .filter(|&i| !self.entries.contains_key(&keys[i]) && seen.insert(keys[i]))
            .collect();
        if !missing.is_empty() {
            if let Some(dir) = self.path.parent() {
                std::fs::create_dir_all(dir).map_err(|e| Error::io("creating", dir, e))?;
            }
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .map_err(|e| Error::io("opening", &self.path, e))?;
            let mut done = 0;
            for chunk in missing.chunks(256) {
                let batch: Vec<String> = chunk.iter().map(|&i| texts[i].clone()).collect();
                let embedded = embedder.embed_detailed(&batch)?;
                let mut buf = Vec::with_capacity(chunk.len() * RECORD);
                for (&i, e) in chunk.iter().zip(embedded) {
                    buf.extend_from_slice(&keys[i]);
                    for v in &e.vector {
                        buf.extend_from_slice(&v.to_le_bytes());
                    }
                    buf.extend_from_slice(&(e.tokens as u32).to_le_bytes());
                    buf.extend_from_slice(&(e.full_tokens as u32).to_le_bytes());
                    buf.push(u8::from(e.truncated));
                    self.entries.insert(keys[i], e);
                }
                file.write_all(&buf)
                    .map_err(|e| Error::io("appending to", &self.path, e))?;
                done += chunk.len();
                progress(done, missing.len());
            }
        }
        keys.iter()
            .map(|k| {
                self.entries
                    .get(k)
                    .cloned()
                    .ok_or_else(|| Error::inference("embedding missing from cache"))
            })
            .collect()
    }
}
