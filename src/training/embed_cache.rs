//! On-disk cache of prompt embeddings keyed by (model id, text), so a retrain embeds only new prompts.
//!
//! Append-only binary file of fixed-size records: sha256(model id, text) (32 bytes), the vector
//! (384 little-endian f32), the mid-layer vector (384 f32), tokens (u32), full tokens (u32), truncated (u8).
//! A torn final record (a crash mid-append) is cut off on load. The file's name carries the layout's version
//! ([`FILE_NAME`]); a file of an older layout is not read (its prompts are embedded again).

use crate::embedding::{Embedder, Embedding, EMBEDDING_DIM};
use crate::error::{Error, Result};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

const RECORD: usize = 32 + 2 * EMBEDDING_DIM * 4 + 4 + 4 + 1;

/// The cache's file name in its folder: version 2 added the mid-layer vector (version 1 was `embeddings.bin`).
pub const FILE_NAME: &str = "embeddings-v2.bin";

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
            let whole = bytes.len() - bytes.len() % RECORD;
            if whole < bytes.len() {
                // Cut a torn final record off, so that the next append starts on a record boundary.
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(path)
                    .and_then(|f| f.set_len(whole as u64))
                    .map_err(|e| Error::io("truncating", path, e))?;
            }
            for rec in bytes.chunks_exact(RECORD) {
                let mut k = [0u8; 32];
                k.copy_from_slice(&rec[..32]);
                let floats = |from: usize| -> Vec<f32> {
                    rec[from..from + EMBEDDING_DIM * 4]
                        .chunks_exact(4)
                        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                        .collect()
                };
                let vector = floats(32);
                let mid_layer = floats(32 + EMBEDDING_DIM * 4);
                let at = 32 + 2 * EMBEDDING_DIM * 4;
                let u32_at = |i: usize| {
                    u32::from_le_bytes([rec[i], rec[i + 1], rec[i + 2], rec[i + 3]]) as usize
                };
                entries.insert(
                    k,
                    Embedding {
                        vector,
                        mid_layer,
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
                    if e.vector.len() != EMBEDDING_DIM || e.mid_layer.len() != EMBEDDING_DIM {
                        return Err(Error::inference(
                            "an embedding to cache is not two vectors of the model's width",
                        ));
                    }
                    for v in e.vector.iter().chain(&e.mid_layer) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embedding::Tokenized;

    /// Embeds a text as vectors filled with its length (last layer) and its length plus one (mid layer);
    /// with `no_mid`, as an embedder that does not return the mid layer.
    struct Fake {
        no_mid: bool,
    }

    impl Embedder for Fake {
        fn tokenize(&self, texts: &[String]) -> Result<Vec<Tokenized>> {
            Ok(texts
                .iter()
                .map(|t| Tokenized {
                    ids: vec![0; t.len()],
                    truncated: false,
                    full_tokens: t.len() + 2,
                })
                .collect())
        }
        fn embed_tokenized(&self, items: &[Tokenized]) -> Result<Vec<Embedding>> {
            Ok(items
                .iter()
                .map(|t| Embedding {
                    vector: vec![t.ids.len() as f32; EMBEDDING_DIM],
                    mid_layer: if self.no_mid {
                        Vec::new()
                    } else {
                        vec![t.ids.len() as f32 + 1.0; EMBEDDING_DIM]
                    },
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

    #[test]
    fn both_vectors_survive_a_reopen_and_a_torn_record_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        let texts: Vec<String> = ["a", "bb", "ccc"].iter().map(|t| t.to_string()).collect();
        let mut cache = EmbeddingCache::open(&path).unwrap();
        let first = cache
            .embed_all(&Fake { no_mid: false }, &texts, |_, _| {})
            .unwrap();
        assert_eq!(first[1].mid_layer, vec![3.0; EMBEDDING_DIM]);
        // A crash mid-append leaves part of a record at the end.
        let mut bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.len(), 3 * RECORD);
        bytes.extend_from_slice(&[7u8; RECORD / 2]);
        std::fs::write(&path, bytes).unwrap();
        let mut reopened = EmbeddingCache::open(&path).unwrap();
        assert_eq!(reopened.len(), 3);
        // Everything comes from the file: an embedder without a mid layer is never asked.
        let again = reopened
            .embed_all(&Fake { no_mid: true }, &texts, |_, _| {})
            .unwrap();
        assert_eq!(again, first);
        // A new text from such an embedder cannot be cached without its mid layer.
        let err = reopened
            .embed_all(&Fake { no_mid: true }, &["dddd".to_string()], |_, _| {})
            .unwrap_err();
        assert!(err.to_string().contains("two vectors"), "{err}");
        // The torn bytes were cut off, so a later append lines up.
        let more = reopened
            .embed_all(&Fake { no_mid: false }, &["dddd".to_string()], |_, _| {})
            .unwrap();
        let mut last = EmbeddingCache::open(&path).unwrap();
        assert_eq!(last.len(), 4);
        let all = [texts, vec!["dddd".to_string()]].concat();
        let got = last
            .embed_all(&Fake { no_mid: true }, &all, |_, _| {})
            .unwrap();
        assert_eq!(got, [first, more].concat());
    }
}
