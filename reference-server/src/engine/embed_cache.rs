//! Rendered embeddings of recent inputs. An embedding is a pure function of (model, input,
//! dimensions, encoding), and rendering it (1,536 hashed floats printed as JSON) is most of
//! the route's cost; a caller that embeds the same text again (a load test, a RAG pipeline
//! re-indexing) gets the same bytes from here. Bounded in bytes, least recently used out.

use crate::engine::embed::EmbedInput;
use bytes::Bytes;
use lru::LruCache;
use std::hash::BuildHasher;
use std::sync::Mutex;

/// Inputs above this many bytes are not kept (they are rare and would crowd the others out).
const MAX_INPUT: usize = 16 * 1024;

/// What an entry was rendered for, kept to confirm a hit (entries are found by a hash of
/// these, computed from the request's own values, so a lookup allocates nothing).
#[derive(Debug)]
struct Key {
    model: String,
    dimensions: usize,
    base64: bool,
    input: EmbedInput,
}

impl Key {
    fn is(&self, model: &str, dimensions: usize, base64: bool, input: &EmbedInput) -> bool {
        self.dimensions == dimensions
            && self.base64 == base64
            && self.model == model
            && self.input == *input
    }

    fn size(&self) -> usize {
        self.input.size() + self.model.len()
    }
}

/// One rendered embedding: the whole answer to a request of this input alone, the JSON of its
/// `embedding` value (a slice of the same bytes, for answers to several inputs), and its
/// input's token count.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The response body of a request with this input alone.
    pub alone: Bytes,
    /// `[0.1,…]`, or `"base64…"` with its quotes: a part of `alone`.
    pub json: Bytes,
    /// Tokens of the input, for `usage`.
    pub tokens: usize,
}

struct Inner {
    /// By the hash of their key; two keys with one hash share a slot (the later one wins).
    entries: LruCache<u64, (Key, Rendered)>,
    bytes: usize,
}

/// The cache.
pub struct EmbedCache<H = foldhash::fast::RandomState> {
    budget: usize,
    /// Seeded per process, so callers cannot aim inputs at one slot (foldhash, not SipHash:
    /// the input is hashed on every request, and a slot collision only costs a rendering).
    hasher: H,
    inner: Mutex<Inner>,
}

impl EmbedCache {
    /// A cache holding at most `budget` bytes of inputs and renderings (0: off).
    pub fn new(budget: usize) -> Self {
        Self::with_hasher(budget, foldhash::fast::RandomState::default())
    }
}

impl<H: BuildHasher> EmbedCache<H> {
    fn with_hasher(budget: usize, hasher: H) -> Self {
        Self {
            budget,
            hasher,
            inner: Mutex::new(Inner {
                entries: LruCache::unbounded(),
                bytes: 0,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // Every mutation keeps `bytes` in step with `entries` before it can panic.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The rendering of `input`, from the cache or made by `render` (and kept if made).
    pub fn get_or_render<E>(
        &self,
        model: &str,
        dimensions: usize,
        base64: bool,
        input: &EmbedInput,
        render: impl FnOnce() -> Result<Rendered, E>,
    ) -> Result<Rendered, E> {
        if self.budget == 0 || input.size() > MAX_INPUT {
            return render();
        }
        let slot = self.hasher.hash_one((model, dimensions, base64, input));
        if let Some((key, hit)) = self.lock().entries.get(&slot) {
            if key.is(model, dimensions, base64, input) {
                return Ok(hit.clone());
            }
        }
        let rendered = render()?;
        let key = Key {
            model: model.to_owned(),
            dimensions,
            base64,
            input: input.clone(),
        };
        let size = rendered.alone.len() + key.size();
        let mut inner = self.lock();
        if let Some((old, was)) = inner.entries.put(slot, (key, rendered.clone())) {
            inner.bytes = inner.bytes.saturating_sub(was.alone.len() + old.size());
        }
        inner.bytes += size;
        while inner.bytes > self.budget {
            match inner.entries.pop_lru() {
                Some((_, (k, v))) => {
                    inner.bytes = inner.bytes.saturating_sub(v.alone.len() + k.size());
                }
                None => break,
            }
        }
        Ok(rendered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    fn rendered(text: &str) -> Rendered {
        let json = Bytes::from(text.to_owned());
        Rendered {
            alone: json.clone(),
            json,
            tokens: 1,
        }
    }

    #[test]
    fn renders_once_per_input_and_evicts_past_the_budget() {
        let cache = EmbedCache::new(40);
        let calls = Cell::new(0);
        let get = |text: &str| {
            cache
                .get_or_render("m", 4, false, &EmbedInput::Text(text.into()), || {
                    calls.set(calls.get() + 1);
                    Ok::<_, ()>(rendered("[0.5,0.5,0.5,0.5]"))
                })
                .ok()
        };
        get("a");
        get("a");
        assert_eq!(calls.get(), 1, "the second call is a hit");
        get("b");
        get("c");
        get("a");
        assert_eq!(calls.get(), 4, "'a' was evicted to stay within 40 bytes");
    }

    /// A hasher that puts every key in one slot.
    struct OneSlot;
    struct Constant;
    impl std::hash::Hasher for Constant {
        fn finish(&self) -> u64 {
            7
        }
        fn write(&mut self, _: &[u8]) {}
    }
    impl BuildHasher for OneSlot {
        type Hasher = Constant;
        fn build_hasher(&self) -> Constant {
            Constant
        }
    }

    #[test]
    fn keys_that_share_a_slot_never_get_each_others_rendering() {
        let cache = EmbedCache::with_hasher(1000, OneSlot);
        let calls = Cell::new(0);
        let get = |text: &str| {
            cache
                .get_or_render("m", 4, false, &EmbedInput::Text(text.into()), || {
                    calls.set(calls.get() + 1);
                    Ok::<_, ()>(rendered(&format!("[{text}]")))
                })
                .ok()
                .map(|r| r.json)
        };
        assert_eq!(get("a"), Some(Bytes::from("[a]")));
        assert_eq!(get("b"), Some(Bytes::from("[b]")), "not a's rendering");
        assert_eq!(get("a"), Some(Bytes::from("[a]")));
        assert_eq!(calls.get(), 3, "each took the slot from the other");
        assert_eq!(cache.lock().entries.len(), 1);
        // One entry's bytes: its rendering, input and model.
        assert_eq!(cache.lock().bytes, "[a]".len() + "a".len() + "m".len());
    }

    #[test]
    fn a_zero_budget_turns_it_off() {
        let cache = EmbedCache::new(0);
        let calls = Cell::new(0);
        for _ in 0..2 {
            let _ = cache.get_or_render("m", 4, false, &EmbedInput::Tokens(vec![1]), || {
                calls.set(calls.get() + 1);
                Ok::<_, ()>(rendered("[1]"))
            });
        }
        assert_eq!(calls.get(), 2);
    }
}
