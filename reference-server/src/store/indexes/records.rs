//! What is stored: index records as JSON, items as their vector (little-endian `f32`s after a
//! `u32` length) followed by JSON for the rest, so a vector is read without parsing text.

use super::{storage, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// How nearness is scored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Metric {
    /// Cosine similarity.
    Cosine,
    /// Dot product.
    Dot,
    /// Euclidean distance, scored `1 / (1 + distance)`.
    Euclidean,
}

impl Metric {
    /// The name used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cosine => "cosine",
            Self::Dot => "dot",
            Self::Euclidean => "euclidean",
        }
    }
}

/// An index to create.
#[derive(Debug, Clone)]
pub struct NewIndex {
    /// Unique name.
    pub name: String,
    /// Vector length.
    pub dimensions: usize,
    /// Scoring.
    pub metric: Metric,
    /// The embedding model that embeds its texts.
    pub model: String,
    /// Caller's key-value pairs.
    pub metadata: Map<String, Value>,
}

/// A stored index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexRecord {
    /// `idx_…`.
    pub id: String,
    /// Unique name.
    pub name: String,
    /// Vector length.
    pub dimensions: usize,
    /// Scoring.
    pub metric: Metric,
    /// The embedding model that embeds its texts.
    pub model: String,
    /// Caller's key-value pairs.
    pub metadata: Map<String, Value>,
    /// Unix seconds.
    pub created_at: i64,
    /// Items held.
    pub item_count: u64,
    /// Creation sequence (list order).
    pub seq: u64,
    /// The project that created it; empty for an index stored before projects existed,
    /// which every project sees.
    #[serde(default)]
    pub project: String,
}

impl IndexRecord {
    pub(super) fn new(project: &str, new: NewIndex, seq: u64) -> Self {
        Self {
            id: format!("idx_{}", uuid::Uuid::new_v4().simple()),
            name: new.name,
            dimensions: new.dimensions,
            metric: new.metric,
            model: new.model,
            metadata: new.metadata,
            created_at: crate::clock::now(),
            item_count: 0,
            seq,
            project: project.to_owned(),
        }
    }

    /// Whether `project` sees this index: its own, or one from before projects.
    pub fn visible_to(&self, project: &str) -> bool {
        self.project == project || self.project.is_empty()
    }

    pub(super) fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub(super) fn decode(bytes: &[u8]) -> Result<Self, StoreError> {
        serde_json::from_slice(bytes).map_err(|e| storage(format!("a corrupt index record: {e}")))
    }
}

/// An item to add.
#[derive(Debug, Clone)]
pub struct NewItem {
    /// The caller's id; one is made when absent.
    pub id: Option<String>,
    /// The vector (given, or the embedding of `text`).
    pub vector: Vec<f32>,
    /// The text it was embedded from, if any.
    pub text: Option<String>,
    /// Attributes for filters.
    pub attributes: Map<String, Value>,
}

/// A stored item (without its vector).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemRecord {
    /// The item's id.
    #[serde(skip)]
    pub id: String,
    /// The text it was embedded from, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Attributes for filters.
    #[serde(default)]
    pub attributes: Map<String, Value>,
    /// Unix seconds.
    pub created_at: i64,
}

impl ItemRecord {
    pub(super) fn new(new: NewItem) -> (Self, Vec<f32>) {
        let id = new
            .id
            .unwrap_or_else(|| format!("item_{}", uuid::Uuid::new_v4().simple()));
        (
            Self {
                id,
                text: new.text,
                attributes: new.attributes,
                created_at: crate::clock::now(),
            },
            new.vector,
        )
    }

    pub(super) fn encode(&self, vector: &[f32]) -> Vec<u8> {
        let mut out = Vec::with_capacity(4 + vector.len() * 4 + 64);
        out.extend_from_slice(&(vector.len() as u32).to_le_bytes());
        for x in vector {
            out.extend_from_slice(&x.to_le_bytes());
        }
        out.extend(serde_json::to_vec(self).unwrap_or_default());
        out
    }

    pub(super) fn decode(id: &str, bytes: &[u8]) -> Result<(Vec<f32>, Self), StoreError> {
        let corrupt = || storage(format!("a corrupt item record ({id})"));
        let len = bytes
            .get(..4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_le_bytes)
            .ok_or_else(corrupt)? as usize;
        let end = 4 + len * 4;
        let raw = bytes.get(4..end).ok_or_else(corrupt)?;
        let vector = raw
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let mut item: Self = serde_json::from_slice(&bytes[end..]).map_err(|_| corrupt())?;
        item.id = id.to_owned();
        Ok((vector, item))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_item_round_trips() {
        let mut attributes = Map::new();
        attributes.insert("lang".into(), Value::from("en"));
        let (item, vector) = ItemRecord::new(NewItem {
            id: Some("a".into()),
            vector: vec![0.5, -1.25, 3.0],
            text: Some("hello".into()),
            attributes,
        });
        let bytes = item.encode(&vector);
        let (v, back) = ItemRecord::decode("a", &bytes).unwrap();
        assert_eq!(v, vector);
        assert_eq!(back, item);
        assert!(ItemRecord::decode("a", &bytes[..7]).is_err());
    }
}
