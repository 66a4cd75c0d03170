//! An index's items in memory, for exact search: the vectors in one flat array, scored one by
//! one against the query, the best `top_k` kept in a bounded heap.

use super::filter::Filter;
use super::{Hit, ItemRecord, Metric};
use serde_json::{Map, Value};
use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};

/// One index's items.
#[derive(Debug)]
pub struct Mirror {
    metric: Metric,
    dimensions: usize,
    ids: Vec<String>,
    vectors: Vec<f32>,
    norms: Vec<f32>,
    texts: Vec<Option<String>>,
    attributes: Vec<Map<String, Value>>,
    slot: HashMap<String, usize>,
}

/// A candidate in the heap: ordered so that the heap's top is the worst kept.
struct Candidate {
    score: f64,
    slot: usize,
}

impl Candidate {
    /// Better: a higher score, then a smaller id.
    fn better(&self, other: &Self, ids: &[String]) -> Ordering {
        self.score
            .total_cmp(&other.score)
            .then_with(|| ids[other.slot].cmp(&ids[self.slot]))
    }
}

/// The heap orders by "worse is greater", with the ids to break ties.
struct Ranked<'a> {
    c: Candidate,
    ids: &'a [String],
}

impl PartialEq for Ranked<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Ranked<'_> {}
impl PartialOrd for Ranked<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Ranked<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        other.c.better(&self.c, self.ids)
    }
}

fn norm(v: &[f32]) -> f32 {
    v.iter().map(|x| x * x).sum::<f32>().sqrt()
}

impl Mirror {
    /// No items yet.
    pub fn new(metric: Metric, dimensions: usize) -> Self {
        Self {
            metric,
            dimensions,
            ids: Vec::new(),
            vectors: Vec::new(),
            norms: Vec::new(),
            texts: Vec::new(),
            attributes: Vec::new(),
            slot: HashMap::new(),
        }
    }

    /// Adds or replaces an item.
    pub fn put(&mut self, item: &ItemRecord, vector: Vec<f32>) {
        if vector.len() != self.dimensions {
            return;
        }
        let n = norm(&vector);
        match self.slot.get(&item.id) {
            Some(&i) => {
                self.vectors[i * self.dimensions..(i + 1) * self.dimensions]
                    .copy_from_slice(&vector);
                self.norms[i] = n;
                self.texts[i] = item.text.clone();
                self.attributes[i] = item.attributes.clone();
            }
            None => {
                self.slot.insert(item.id.clone(), self.ids.len());
                self.ids.push(item.id.clone());
                self.vectors.extend_from_slice(&vector);
                self.norms.push(n);
                self.texts.push(item.text.clone());
                self.attributes.push(item.attributes.clone());
            }
        }
    }

    /// Removes an item (the last one takes its slot).
    pub fn remove(&mut self, id: &str) {
        let Some(i) = self.slot.remove(id) else {
            return;
        };
        let last = self.ids.len() - 1;
        let d = self.dimensions;
        if i != last {
            self.vectors.copy_within(last * d..(last + 1) * d, i * d);
            if let Some(moved) = self.ids.get(last).cloned() {
                self.slot.insert(moved, i);
            }
        }
        self.ids.swap_remove(i);
        self.norms.swap_remove(i);
        self.texts.swap_remove(i);
        self.attributes.swap_remove(i);
        self.vectors.truncate(last * d);
    }

    fn score(&self, query: &[f32], query_norm: f32, slot: usize) -> f64 {
        let v = &self.vectors[slot * self.dimensions..(slot + 1) * self.dimensions];
        match self.metric {
            Metric::Dot => f64::from(dot(query, v)),
            Metric::Cosine => {
                let denominator = query_norm * self.norms[slot];
                if denominator == 0.0 {
                    0.0
                } else {
                    f64::from(dot(query, v) / denominator)
                }
            }
            Metric::Euclidean => {
                let d2: f32 = query.iter().zip(v).map(|(a, b)| (a - b) * (a - b)).sum();
                1.0 / (1.0 + f64::from(d2.sqrt()))
            }
        }
    }

    /// The `top_k` best items that pass `filter`, best first.
    pub fn search(&self, query: &[f32], top_k: usize, filter: Option<&Filter>) -> Vec<Hit> {
        if query.len() != self.dimensions || top_k == 0 {
            return Vec::new();
        }
        let query_norm = norm(query);
        let mut heap: BinaryHeap<Ranked<'_>> = BinaryHeap::with_capacity(top_k + 1);
        for slot in 0..self.ids.len() {
            if filter.is_some_and(|f| !f.matches(&self.attributes[slot])) {
                continue;
            }
            let candidate = Ranked {
                c: Candidate {
                    score: self.score(query, query_norm, slot),
                    slot,
                },
                ids: &self.ids,
            };
            if heap.len() < top_k {
                heap.push(candidate);
            } else if heap
                .peek()
                .is_some_and(|worst| candidate.c.better(&worst.c, &self.ids).is_gt())
            {
                heap.pop();
                heap.push(candidate);
            }
        }
        // `into_sorted_vec` is ascending by "worse is greater": best first.
        heap.into_sorted_vec()
            .into_iter()
            .map(|r| Hit {
                id: self.ids[r.c.slot].clone(),
                score: r.c.score,
                text: self.texts[r.c.slot].clone(),
                attributes: self.attributes[r.c.slot].clone(),
            })
            .collect()
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    // Four lanes let the compiler vectorise the sum.
    let mut acc = [0f32; 4];
    let chunks = a.len() / 4 * 4;
    for i in (0..chunks).step_by(4) {
        acc[0] += a[i] * b[i];
        acc[1] += a[i + 1] * b[i + 1];
        acc[2] += a[i + 2] * b[i + 2];
        acc[3] += a[i + 3] * b[i + 3];
    }
    let mut sum = acc[0] + acc[1] + acc[2] + acc[3];
    for i in chunks..a.len() {
        sum += a[i] * b[i];
    }
    sum
}
