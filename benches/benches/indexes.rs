//! The index store behind `/v1/indexes`: exact search at top_k 10 over 10k and 100k vectors of
//! 384 dimensions (with and without a filter), against a plain brute-force scan of the same
//! vectors in memory (score everything, sort, take 10); and inserts into a database file, one
//! fsynced batch of 1000 at a time. Prints the file's size per vector.
//!
//! `cargo bench -p benches --bench indexes` (not part of CI's budget run).

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use reference_server::indexes::{Filter, IndexStore, Metric, NewIndex, NewItem};
use serde_json::json;

/// The project the benchmark's indexes belong to.
const P: &str = "0123456789abcdef";

const DIMS: usize = 384;

fn vectors(n: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| (0..DIMS).map(|_| rng.random_range(-1.0f32..1.0)).collect())
        .collect()
}

fn items(vs: &[Vec<f32>], offset: usize) -> Vec<NewItem> {
    vs.iter()
        .enumerate()
        .map(|(i, v)| NewItem {
            id: Some(format!("it{:07}", offset + i)),
            vector: v.clone(),
            text: None,
            attributes: json!({"group": (offset + i) % 10})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        })
        .collect()
}

fn index(store: &IndexStore, name: &str) -> String {
    store
        .create(
            P,
            NewIndex {
                name: name.into(),
                dimensions: DIMS,
                metric: Metric::Cosine,
                model: "bench".into(),
                metadata: Default::default(),
            },
        )
        .unwrap_or_else(|e| panic!("create: {e}"))
        .id
}

fn filled(store: &IndexStore, name: &str, vs: &[Vec<f32>]) -> String {
    let id = index(store, name);
    for (n, chunk) in vs.chunks(1000).enumerate() {
        store
            .upsert(P, &id, items(chunk, n * 1000))
            .unwrap_or_else(|e| panic!("upsert: {e}"));
    }
    id
}

/// The baseline: every score, a full sort, the first ten.
fn brute_force(vs: &[Vec<f32>], query: &[f32]) -> Vec<(usize, f32)> {
    let qn = query.iter().map(|x| x * x).sum::<f32>().sqrt();
    let mut scored: Vec<(usize, f32)> = vs
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let dot: f32 = v.iter().zip(query).map(|(a, b)| a * b).sum();
            let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            (i, dot / (n * qn))
        })
        .collect();
    scored.sort_by(|a, b| b.1.total_cmp(&a.1));
    scored.truncate(10);
    scored
}

fn search(c: &mut Criterion) {
    let store = IndexStore::in_memory().unwrap_or_else(|e| panic!("store: {e}"));
    let query = vectors(1, 99).remove(0);
    let filter = Filter::parse(
        &json!({"type": "eq", "key": "group", "value": 3}),
        "filters",
    )
    .unwrap_or_else(|e| panic!("filter: {e:?}"));
    let mut group = c.benchmark_group("indexes");
    for n in [10_000usize, 100_000] {
        let vs = vectors(n, n as u64);
        let id = filled(&store, &format!("n{n}"), &vs);
        group.bench_function(format!("search_top10_{}k", n / 1000), |b| {
            b.iter(|| store.search(P, &id, &query, 10, None))
        });
        group.bench_function(format!("search_top10_{}k_filtered", n / 1000), |b| {
            b.iter(|| store.search(P, &id, &query, 10, Some(&filter)))
        });
        group.bench_function(format!("brute_force_top10_{}k", n / 1000), |b| {
            b.iter(|| brute_force(&vs, &query))
        });
    }
    group.finish();
}

fn insert(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("refserver-bench-{}", std::process::id()));
    let path = dir.join("indexes.redb");
    let store = IndexStore::open(&path).unwrap_or_else(|e| panic!("store: {e}"));
    let id = index(&store, "insert");
    let batch = vectors(1000, 7);
    let mut next = 0usize;
    let mut group = c.benchmark_group("indexes");
    group.sample_size(20);
    group.bench_function("insert_1000_fsynced", |b| {
        b.iter_batched(
            || {
                next += 1000;
                items(&batch, next)
            },
            |items| store.upsert(P, &id, items),
            BatchSize::PerIteration,
        )
    });
    group.finish();
    let stored = store
        .get(P, &id)
        .map(|r| r.item_count)
        .unwrap_or_else(|e| panic!("get: {e}"));
    let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    eprintln!(
        "indexes: {stored} vectors of {DIMS} dimensions in {bytes} bytes on disk: {:.0} bytes per vector ({} bytes of f32 data)",
        bytes as f64 / stored.max(1) as f64,
        DIMS * 4
    );
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, search, insert);
criterion_main!(benches);
