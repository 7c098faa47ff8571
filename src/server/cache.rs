//! An exact-match LRU cache of embeddings: system prompts, retries and health checks repeat verbatim.
//!
//! Keyed by the sha256 of the prompt, so a long prompt costs 32 bytes of key, not its own size.

use super::metrics::{CACHE_HITS, CACHE_MISSES};
use crate::embedding::Embedding;
use lru::LruCache;
use sha2::{Digest, Sha256};
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, PoisonError};

type Key = [u8; 32];

/// Bounded map from prompt to embedding; `None` inside when disabled.
pub struct EmbedCache {
    inner: Option<Mutex<LruCache<Key, Arc<Embedding>>>>,
}

impl EmbedCache {
    /// A cache of at most `entries` embeddings (zero disables it).
    pub fn new(entries: usize) -> Self {
        Self {
            inner: NonZeroUsize::new(entries).map(|n| Mutex::new(LruCache::new(n))),
        }
    }

    /// The key of a prompt.
    pub fn key(prompt: &str) -> Key {
        Sha256::digest(prompt.as_bytes()).into()
    }

    /// The cached embedding of a prompt, if any.
    pub fn get(&self, key: &Key) -> Option<Arc<Embedding>> {
        let inner = self.inner.as_ref()?;
        let hit = inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
            .cloned();
        if hit.is_some() {
            metrics::counter!(CACHE_HITS).increment(1);
        } else {
            metrics::counter!(CACHE_MISSES).increment(1);
        }
        hit
    }

    /// Remembers an embedding.
    pub fn put(&self, key: Key, embedding: Arc<Embedding>) {
        if let Some(inner) = &self.inner {
            inner
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .put(key, embedding);
        }
    }

    /// Embeddings held now.
    pub fn len(&self) -> usize {
        self.inner.as_ref().map_or(0, |m| {
            m.lock().unwrap_or_else(PoisonError::into_inner).len()
        })
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn emb(x: f32) -> Arc<Embedding> {
        Arc::new(Embedding {
            vector: vec![x],
            mid_layer: Vec::new(),
            tokens: 1,
            truncated: false,
            full_tokens: 1,
        })
    }

    #[test]
    fn bounded_and_exact() {
        let c = EmbedCache::new(2);
        c.put(EmbedCache::key("a"), emb(1.0));
        c.put(EmbedCache::key("b"), emb(2.0));
        c.put(EmbedCache::key("c"), emb(3.0));
        assert_eq!(c.len(), 2);
        assert!(c.get(&EmbedCache::key("a")).is_none());
        assert_eq!(c.get(&EmbedCache::key("c")).unwrap().vector, vec![3.0]);
        assert!(c.get(&EmbedCache::key("c ")).is_none());
        let off = EmbedCache::new(0);
        off.put(EmbedCache::key("a"), emb(1.0));
        assert!(off.get(&EmbedCache::key("a")).is_none() && off.is_empty());
    }
}
