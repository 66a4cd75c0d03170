//! Embeddings for `similar` graders: the answer and the texts it is compared with, asked of
//! `/v1/embeddings` in one request per turn, each text's vector kept for the rest of the run
//! (an ideal shared by many cases, or asked again by `repeat`, is embedded once).

use super::grader::Similarity;
use super::send::{send_to, Pacer};
use crate::target::Target;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Texts kept at most, so a long run's memory stays bounded; past it, texts are asked again.
const CACHED_TEXTS: usize = 100_000;

/// Vectors by embedding model (none: the run's) and text.
type Cache = HashMap<(Option<String>, String), Arc<[f32]>>;

/// Where embeddings are asked, and the vectors seen so far.
#[derive(Debug)]
pub struct Embedder {
    target: Target,
    model: String,
    cache: Mutex<Cache>,
    asked: AtomicU64,
    reused: AtomicU64,
}

impl Embedder {
    /// Embeddings of `model`, asked of `target`.
    pub fn new(target: Target, model: String) -> Self {
        Self {
            target,
            model,
            cache: Mutex::new(HashMap::new()),
            asked: AtomicU64::new(0),
            reused: AtomicU64::new(0),
        }
    }

    /// What the run's note says: the model, where, and how many texts were asked and reused.
    pub fn note(&self) -> String {
        format!(
            "similar: {} text(s) embedded by {} at {}, {} reused from earlier in the run",
            self.asked.load(Ordering::Relaxed),
            if self.model.is_empty() {
                "the models the graders name"
            } else {
                &self.model
            },
            self.target.url("/v1/embeddings"),
            self.reused.load(Ordering::Relaxed),
        )
    }

    /// How close `answer` is to each of `expected`, embedded by `model` (none: the run's), or
    /// why it could not be measured.
    pub async fn similarities(
        &self,
        answer: &str,
        expected: &[String],
        model: Option<&str>,
        pacer: Option<&Pacer>,
        max_retries: u32,
    ) -> Result<Vec<Similarity>, String> {
        let mut texts: Vec<&str> = vec![answer];
        texts.extend(expected.iter().map(String::as_str));
        let key = |text: &str| (model.map(str::to_owned), text.to_owned());
        let mut vectors: Vec<Option<Arc<[f32]>>> = {
            let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            texts.iter().map(|t| cache.get(&key(t)).cloned()).collect()
        };
        let missing: Vec<&str> = texts
            .iter()
            .zip(&vectors)
            .filter(|(_, v)| v.is_none())
            .map(|(t, _)| *t)
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        self.reused.fetch_add(
            (texts.len() - vectors.iter().filter(|v| v.is_none()).count()) as u64,
            Ordering::Relaxed,
        );
        if !missing.is_empty() {
            let fetched = self
                .ask(model.unwrap_or(&self.model), &missing, pacer, max_retries)
                .await?;
            self.asked
                .fetch_add(missing.len() as u64, Ordering::Relaxed);
            let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            for (text, vector) in missing.iter().zip(fetched) {
                for (t, slot) in texts.iter().zip(vectors.iter_mut()) {
                    if t == text {
                        *slot = Some(vector.clone());
                    }
                }
                if cache.len() < CACHED_TEXTS {
                    cache.insert(key(text), vector);
                }
            }
        }
        let Some(Some(mine)) = vectors.first() else {
            return Err("the answer's embedding is missing".into());
        };
        expected
            .iter()
            .zip(vectors.iter().skip(1))
            .map(|(text, vector)| {
                let vector = vector.as_deref().unwrap_or_default();
                Similarity::between(text, mine, vector)
                    .map(|s| Similarity {
                        model: model.map(str::to_owned),
                        ..s
                    })
                    .ok_or_else(|| {
                    format!(
                        "the embeddings of the answer ({} numbers) and of {:?} ({} numbers) cannot be compared",
                        mine.len(),
                        crate::target::excerpt(text, 80),
                        vector.len()
                    )
                })
            })
            .collect()
    }

    /// One request for `texts` to `model`: their vectors, in order.
    async fn ask(
        &self,
        model: &str,
        texts: &[&str],
        pacer: Option<&Pacer>,
        max_retries: u32,
    ) -> Result<Vec<Arc<[f32]>>, String> {
        let body = json!({"model": model, "input": texts, "encoding_format": "float"});
        let (sent, _) = send_to(&self.target, pacer, max_retries, "/v1/embeddings", &body).await;
        let ex = sent?;
        if !(200..300).contains(&ex.status) {
            return Err(format!("HTTP {}: {}", ex.status, ex.excerpt()));
        }
        let value = ex
            .json()
            .map_err(|e| format!("the answer is not JSON: {e}"))?;
        read(&value, texts.len())
    }
}

/// The vectors of an embeddings answer for `n` inputs, ordered by their `index`.
fn read(value: &Value, n: usize) -> Result<Vec<Arc<[f32]>>, String> {
    let data = value
        .get("data")
        .and_then(Value::as_array)
        .ok_or("the answer has no `data` list")?;
    if data.len() != n {
        return Err(format!(
            "{n} text(s) were sent and {} embedding(s) came back",
            data.len()
        ));
    }
    let mut out: Vec<Option<Arc<[f32]>>> = vec![None; n];
    for (i, item) in data.iter().enumerate() {
        let index = item
            .get("index")
            .and_then(Value::as_u64)
            .map_or(i, |x| x as usize);
        let numbers = item
            .get("embedding")
            .and_then(Value::as_array)
            .ok_or_else(|| format!("data[{i}].embedding is not a list of numbers"))?;
        let vector: Option<Vec<f32>> = numbers
            .iter()
            .map(|x| x.as_f64().map(|f| f as f32))
            .collect();
        let vector = vector
            .filter(|v| !v.is_empty())
            .ok_or_else(|| format!("data[{i}].embedding is not a list of numbers"))?;
        match out.get_mut(index) {
            Some(slot @ None) => *slot = Some(vector.into()),
            _ => {
                return Err(format!(
                    "data[{i}].index {index} is out of range or repeated"
                ))
            }
        }
    }
    Ok(out.into_iter().flatten().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_are_read_in_index_order_and_bad_answers_are_named() {
        let answer = json!({"data": [
            {"index": 1, "embedding": [0.0, 1.0]},
            {"index": 0, "embedding": [1.0, 0.0]},
        ]});
        let vectors = read(&answer, 2).unwrap_or_default();
        assert_eq!(vectors.len(), 2);
        assert_eq!(&*vectors[0], &[1.0, 0.0]);
        assert_eq!(&*vectors[1], &[0.0, 1.0]);
        let error = |v: Value, n| read(&v, n).err().unwrap_or_default();
        assert!(error(json!({}), 1).contains("no `data`"));
        assert!(error(answer.clone(), 3).contains("3 text(s) were sent and 2"));
        assert!(error(json!({"data": [{"embedding": "AAAA"}]}), 1).contains("not a list"));
        assert!(error(json!({"data": [{"embedding": []}]}), 1).contains("not a list"));
        assert!(error(
            json!({"data": [{"index": 0, "embedding": [1.0]}, {"index": 0, "embedding": [1.0]}]}),
            2
        )
        .contains("repeated"));
    }
}
