//! Memory indexes (`/v1/indexes`), persisted in an embedded database (redb): an acknowledged
//! write is a committed, fsynced transaction, so it survives `kill -9`; a batch is one
//! transaction, so it lands whole or not at all. Search is exact: every vector of the index is
//! scored, from a copy kept in memory (`mirror`) that is updated after each commit.
//!
//! redb rather than SQLite: it is pure Rust (no C build in CI), its transactions are ACID with
//! checksummed copy-on-write commits, and the same code runs on an in-memory backend for tests.
//! Nothing here knows the app's state, routes or error type.

pub mod filter;
mod mirror;
mod records;

pub use filter::Filter;
pub use records::{IndexRecord, ItemRecord, Metric, NewIndex, NewItem};

use mirror::Mirror;
use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Mutex, RwLock};

/// Index id → the index record (JSON).
const INDEXES: TableDefinition<&str, &[u8]> = TableDefinition::new("indexes");
/// Index name → index id, for indexes stored before projects (their names are unique among
/// all indexes).
const NAMES: TableDefinition<&str, &str> = TableDefinition::new("index_names");
/// (project, index name) → index id (names are unique within a project).
const PROJECT_NAMES: TableDefinition<(&str, &str), &str> =
    TableDefinition::new("project_index_names");
/// Creation sequence → index id (list order and cursors).
const ORDER: TableDefinition<u64, &str> = TableDefinition::new("index_order");
/// (index id, item id) → the item (vector, then JSON).
const ITEMS: TableDefinition<(&str, &str), &[u8]> = TableDefinition::new("items");
/// Counters: `seq` (the last creation sequence), `probe` (readiness writes).
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");

/// What can go wrong, by kind; the routes map each kind to a status.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No such index or item.
    #[error("no {what} found with id '{id}'")]
    NotFound {
        /// `index` or `item`.
        what: &'static str,
        /// The id asked for.
        id: String,
    },
    /// An index of that name exists.
    #[error("an index named '{0}' already exists")]
    NameTaken(String),
    /// A list cursor that names no index.
    #[error("no index found with id '{0}' to page from")]
    BadCursor(String),
    /// The database failed (disk full, file unreadable…).
    #[error("the index store failed: {0}")]
    Storage(String),
}

fn storage(e: impl std::fmt::Display) -> StoreError {
    StoreError::Storage(e.to_string())
}

/// List order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Oldest first.
    Asc,
    /// Newest first.
    Desc,
}

/// One page of indexes.
#[derive(Debug)]
pub struct Page {
    /// The indexes, in the asked order.
    pub data: Vec<IndexRecord>,
    /// Whether more follow in that direction.
    pub has_more: bool,
}

/// One search result.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// The item's id.
    pub id: String,
    /// Higher is nearer: cosine similarity, dot product, or `1 / (1 + distance)`.
    pub score: f64,
    /// The item's text, when it was added as text.
    pub text: Option<String>,
    /// The item's attributes.
    pub attributes: serde_json::Map<String, serde_json::Value>,
}

/// The index store.
pub struct IndexStore {
    db: Database,
    /// Write transactions and the mirror updates after them happen one at a time, so the
    /// mirror always shows exactly the committed state.
    writer: Mutex<()>,
    /// By index id: its project and its items.
    mirrors: RwLock<HashMap<String, (String, Mirror)>>,
}

impl std::fmt::Debug for IndexStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexStore").finish_non_exhaustive()
    }
}

/// The record of index `id` in `table`, or not found: also when another project owns it,
/// so that nothing tells the two apart.
fn stored_index(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
    project: &str,
    id: &str,
) -> Result<IndexRecord, StoreError> {
    let found = match table.get(id).map_err(storage)? {
        Some(value) => Some(IndexRecord::decode(value.value())?),
        None => None,
    };
    found
        .filter(|r| r.visible_to(project))
        .ok_or_else(|| StoreError::NotFound {
            what: "index",
            id: id.to_owned(),
        })
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl IndexStore {
    /// Opens (or creates) the database at `path`, creating its directory.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| storage(format!("{}: {e}", dir.display())))?;
        }
        let db = Database::create(path).map_err(|e| storage(format!("{}: {e}", path.display())))?;
        Self::with(db)
    }

    /// A store that lives in memory only (tests, the embedded server).
    pub fn in_memory() -> Result<Self, StoreError> {
        let db = Database::builder()
            .create_with_backend(redb::backends::InMemoryBackend::new())
            .map_err(storage)?;
        Self::with(db)
    }

    /// A store on `backend` (tests: a disk that fails on demand).
    #[cfg(test)]
    fn on_backend(backend: impl redb::StorageBackend) -> Result<Self, StoreError> {
        Self::with(
            Database::builder()
                .create_with_backend(backend)
                .map_err(storage)?,
        )
    }

    fn with(db: Database) -> Result<Self, StoreError> {
        let txn = db.begin_write().map_err(storage)?;
        {
            // Opening creates the tables, so that a fresh database can be read.
            txn.open_table(INDEXES).map_err(storage)?;
            txn.open_table(NAMES).map_err(storage)?;
            txn.open_table(PROJECT_NAMES).map_err(storage)?;
            txn.open_table(ORDER).map_err(storage)?;
            txn.open_table(ITEMS).map_err(storage)?;
            txn.open_table(META).map_err(storage)?;
        }
        txn.commit().map_err(storage)?;
        let store = Self {
            db,
            writer: Mutex::new(()),
            mirrors: RwLock::new(HashMap::new()),
        };
        store.load_mirrors()?;
        Ok(store)
    }

    fn load_mirrors(&self) -> Result<(), StoreError> {
        let txn = self.db.begin_read().map_err(storage)?;
        let indexes = txn.open_table(INDEXES).map_err(storage)?;
        let items = txn.open_table(ITEMS).map_err(storage)?;
        let mut mirrors = HashMap::new();
        for entry in indexes.iter().map_err(storage)? {
            let (_, value) = entry.map_err(storage)?;
            let index = IndexRecord::decode(value.value())?;
            let mut mirror = Mirror::new(index.metric, index.dimensions);
            for item in items.range((index.id.as_str(), "")..).map_err(storage)? {
                let (key, value) = item.map_err(storage)?;
                let (owner, id) = key.value();
                if owner != index.id {
                    break;
                }
                let (vector, item) = ItemRecord::decode(id, value.value())?;
                mirror.put(&item, vector);
            }
            mirrors.insert(index.id.clone(), (index.project.clone(), mirror));
        }
        *self.mirrors.write().unwrap_or_else(|p| p.into_inner()) = mirrors;
        Ok(())
    }

    /// Creates an index in `project`.
    pub fn create(&self, project: &str, new: NewIndex) -> Result<IndexRecord, StoreError> {
        let _writing = lock(&self.writer);
        let txn = self.db.begin_write().map_err(storage)?;
        let record = {
            let mut names = txn.open_table(PROJECT_NAMES).map_err(storage)?;
            // An index from before projects is every project's: its name is taken in all.
            let legacy = txn.open_table(NAMES).map_err(storage)?;
            if names
                .get((project, new.name.as_str()))
                .map_err(storage)?
                .is_some()
                || legacy.get(new.name.as_str()).map_err(storage)?.is_some()
            {
                return Err(StoreError::NameTaken(new.name));
            }
            let mut meta = txn.open_table(META).map_err(storage)?;
            let seq = meta.get("seq").map_err(storage)?.map_or(0, |v| v.value()) + 1;
            meta.insert("seq", seq).map_err(storage)?;
            let record = IndexRecord::new(project, new, seq);
            names
                .insert((project, record.name.as_str()), record.id.as_str())
                .map_err(storage)?;
            txn.open_table(ORDER)
                .map_err(storage)?
                .insert(seq, record.id.as_str())
                .map_err(storage)?;
            txn.open_table(INDEXES)
                .map_err(storage)?
                .insert(record.id.as_str(), record.encode().as_slice())
                .map_err(storage)?;
            record
        };
        txn.commit().map_err(storage)?;
        self.mirrors_mut().insert(
            record.id.clone(),
            (
                project.to_owned(),
                Mirror::new(record.metric, record.dimensions),
            ),
        );
        Ok(record)
    }

    fn mirrors_mut(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, (String, Mirror)>> {
        self.mirrors.write().unwrap_or_else(|p| p.into_inner())
    }

    fn mirrors(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, (String, Mirror)>> {
        self.mirrors.read().unwrap_or_else(|p| p.into_inner())
    }

    /// One index of `project`.
    pub fn get(&self, project: &str, id: &str) -> Result<IndexRecord, StoreError> {
        let txn = self.db.begin_read().map_err(storage)?;
        stored_index(&txn.open_table(INDEXES).map_err(storage)?, project, id)
    }

    /// A page of `project`'s indexes in creation order: `limit` of them after (or before) a
    /// cursor, which must be one of them.
    pub fn list(
        &self,
        project: &str,
        limit: usize,
        order: Order,
        after: Option<&str>,
        before: Option<&str>,
    ) -> Result<Page, StoreError> {
        let txn = self.db.begin_read().map_err(storage)?;
        let indexes = txn.open_table(INDEXES).map_err(storage)?;
        let seq_of = |id: &str| -> Result<u64, StoreError> {
            stored_index(&indexes, project, id)
                .map(|r| r.seq)
                .map_err(|e| match e {
                    StoreError::NotFound { .. } => StoreError::BadCursor(id.to_owned()),
                    other => other,
                })
        };
        let after = after.map(seq_of).transpose()?;
        let before = before.map(seq_of).transpose()?;
        // The sequence window the cursors leave, then walked in the asked order; with only
        // `before`, the page is the `limit` nearest the cursor.
        let lo = match order {
            Order::Asc => after.map_or(0, |s| s + 1),
            Order::Desc => before.map_or(0, |s| s + 1),
        };
        let hi = match order {
            Order::Asc => before.unwrap_or(u64::MAX),
            Order::Desc => after.unwrap_or(u64::MAX),
        };
        let walk_up = match order {
            Order::Asc => after.is_some() || before.is_none(),
            Order::Desc => before.is_some() && after.is_none(),
        };
        let ordered = txn.open_table(ORDER).map_err(storage)?;
        let range = ordered.range(lo..hi).map_err(storage)?;
        let mut found = Vec::new();
        // Other projects' indexes are passed over, as if they were not there.
        let mut push = |entry: Result<
            (redb::AccessGuard<'_, u64>, redb::AccessGuard<'_, &str>),
            redb::StorageError,
        >|
         -> Result<bool, StoreError> {
            let (_, id) = entry.map_err(storage)?;
            let id = id.value();
            let value = indexes
                .get(id)
                .map_err(storage)?
                .ok_or_else(|| storage(format!("index {id} is listed but not stored")))?;
            let record = IndexRecord::decode(value.value())?;
            if record.visible_to(project) {
                found.push(record);
            }
            Ok(found.len() > limit)
        };
        if walk_up {
            for entry in range {
                if push(entry)? {
                    break;
                }
            }
        } else {
            for entry in range.rev() {
                if push(entry)? {
                    break;
                }
            }
        }
        let has_more = found.len() > limit;
        found.truncate(limit);
        let reversed = match order {
            Order::Asc => !walk_up,
            Order::Desc => walk_up,
        };
        if reversed {
            found.reverse();
        }
        Ok(Page {
            data: found,
            has_more,
        })
    }

    /// Deletes an index of `project` and its items.
    pub fn delete(&self, project: &str, id: &str) -> Result<(), StoreError> {
        let _writing = lock(&self.writer);
        let txn = self.db.begin_write().map_err(storage)?;
        {
            let mut indexes = txn.open_table(INDEXES).map_err(storage)?;
            let record = stored_index(&indexes, project, id)?;
            indexes.remove(id).map_err(storage)?;
            if record.project.is_empty() {
                txn.open_table(NAMES)
                    .map_err(storage)?
                    .remove(record.name.as_str())
                    .map_err(storage)?;
            } else {
                txn.open_table(PROJECT_NAMES)
                    .map_err(storage)?
                    .remove((record.project.as_str(), record.name.as_str()))
                    .map_err(storage)?;
            }
            txn.open_table(ORDER)
                .map_err(storage)?
                .remove(record.seq)
                .map_err(storage)?;
            let mut items = txn.open_table(ITEMS).map_err(storage)?;
            items
                .retain_in((id, "")..(id, "\u{10FFFF}"), |(owner, _), _| owner != id)
                .map_err(storage)?;
        }
        txn.commit().map_err(storage)?;
        self.mirrors_mut().remove(id);
        Ok(())
    }

    /// Adds or replaces items (by id) in an index of `project`, all in one transaction; the
    /// stored items, in order. Vectors must already have the index's dimensions (the routes
    /// check and say where).
    pub fn upsert(
        &self,
        project: &str,
        index_id: &str,
        new: Vec<NewItem>,
    ) -> Result<Vec<ItemRecord>, StoreError> {
        let _writing = lock(&self.writer);
        let txn = self.db.begin_write().map_err(storage)?;
        let mut stored = Vec::with_capacity(new.len());
        {
            let mut indexes = txn.open_table(INDEXES).map_err(storage)?;
            let mut record = stored_index(&indexes, project, index_id)?;
            let mut items = txn.open_table(ITEMS).map_err(storage)?;
            for item in new {
                if item.vector.len() != record.dimensions {
                    return Err(storage(format!(
                        "a vector of {} dimensions for an index of {}",
                        item.vector.len(),
                        record.dimensions
                    )));
                }
                let (item, vector) = ItemRecord::new(item);
                let replaced = items
                    .insert(
                        (index_id, item.id.as_str()),
                        item.encode(&vector).as_slice(),
                    )
                    .map_err(storage)?
                    .is_some();
                if !replaced {
                    record.item_count += 1;
                }
                stored.push((item, vector));
            }
            indexes
                .insert(index_id, record.encode().as_slice())
                .map_err(storage)?;
        }
        txn.commit().map_err(storage)?;
        let mut mirrors = self.mirrors_mut();
        if let Some((_, mirror)) = mirrors.get_mut(index_id) {
            for (item, vector) in &stored {
                mirror.put(item, vector.clone());
            }
        }
        Ok(stored.into_iter().map(|(item, _)| item).collect())
    }

    /// One item of an index of `project`.
    pub fn item(
        &self,
        project: &str,
        index_id: &str,
        item_id: &str,
    ) -> Result<ItemRecord, StoreError> {
        let txn = self.db.begin_read().map_err(storage)?;
        stored_index(
            &txn.open_table(INDEXES).map_err(storage)?,
            project,
            index_id,
        )?;
        let items = txn.open_table(ITEMS).map_err(storage)?;
        let value = items
            .get((index_id, item_id))
            .map_err(storage)?
            .ok_or_else(|| StoreError::NotFound {
                what: "item",
                id: item_id.to_owned(),
            })?;
        Ok(ItemRecord::decode(item_id, value.value())?.1)
    }

    /// Deletes one item of an index of `project`.
    pub fn delete_item(
        &self,
        project: &str,
        index_id: &str,
        item_id: &str,
    ) -> Result<(), StoreError> {
        let _writing = lock(&self.writer);
        let txn = self.db.begin_write().map_err(storage)?;
        {
            let mut indexes = txn.open_table(INDEXES).map_err(storage)?;
            let mut record = stored_index(&indexes, project, index_id)?;
            let removed = txn
                .open_table(ITEMS)
                .map_err(storage)?
                .remove((index_id, item_id))
                .map_err(storage)?
                .is_some();
            if !removed {
                return Err(StoreError::NotFound {
                    what: "item",
                    id: item_id.to_owned(),
                });
            }
            record.item_count = record.item_count.saturating_sub(1);
            indexes
                .insert(index_id, record.encode().as_slice())
                .map_err(storage)?;
        }
        txn.commit().map_err(storage)?;
        if let Some((_, mirror)) = self.mirrors_mut().get_mut(index_id) {
            mirror.remove(item_id);
        }
        Ok(())
    }

    /// The `top_k` items nearest `query` that pass `filter` in an index of `project`, nearest
    /// first (ties by id).
    pub fn search(
        &self,
        project: &str,
        index_id: &str,
        query: &[f32],
        top_k: usize,
        filter: Option<&Filter>,
    ) -> Result<Vec<Hit>, StoreError> {
        let mirrors = self.mirrors();
        let mirror = mirrors
            .get(index_id)
            .filter(|(owner, _)| owner == project || owner.is_empty())
            .map(|(_, mirror)| mirror)
            .ok_or_else(|| StoreError::NotFound {
                what: "index",
                id: index_id.to_owned(),
            })?;
        Ok(mirror.search(query, top_k, filter))
    }

    /// How many indexes were stored before projects existed (every project sees them).
    pub fn shared_count(&self) -> Result<usize, StoreError> {
        let txn = self.db.begin_read().map_err(storage)?;
        let names = txn.open_table(NAMES).map_err(storage)?;
        Ok(ReadableTableMetadata::len(&names).map_err(storage)? as usize)
    }

    /// Proves the store can be written: one committed write (readiness).
    pub fn probe_write(&self) -> Result<(), StoreError> {
        let _writing = lock(&self.writer);
        let txn = self.db.begin_write().map_err(storage)?;
        {
            let mut meta = txn.open_table(META).map_err(storage)?;
            let n = meta.get("probe").map_err(storage)?.map_or(0, |v| v.value());
            meta.insert("probe", n.wrapping_add(1)).map_err(storage)?;
        }
        txn.commit().map_err(storage)
    }
}

#[cfg(test)]
mod tests;
