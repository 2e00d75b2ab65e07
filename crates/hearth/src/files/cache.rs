//! The client's cache of downloaded files: `files/cache/<file_id>`, each verified
//! against its id before it is kept, with a size limit (least recently used out first,
//! files the user chose to keep never).

use std::path::{Path, PathBuf};

use crate::store::{Store, StoreError};

/// The default size limit of the cache.
pub const DEFAULT_LIMIT: u64 = 2 * 1024 * 1024 * 1024;

/// Where a client keeps downloaded files.
#[derive(Debug, Clone)]
pub struct FileCache {
    dir: PathBuf,
    partial: PathBuf,
}

impl FileCache {
    /// The cache inside `data_dir`, created if missing.
    pub fn open(data_dir: &Path) -> std::io::Result<FileCache> {
        let dir = data_dir.join("files").join("cache");
        let partial = dir.join("partial");
        std::fs::create_dir_all(&partial)?;
        Ok(FileCache { dir, partial })
    }

    /// Where a complete, verified file is. `file_id` must be a checked id.
    pub fn path(&self, file_id: &str) -> PathBuf {
        self.dir.join(file_id)
    }

    /// Where a download in progress is.
    pub fn partial_path(&self, file_id: &str) -> PathBuf {
        self.partial.join(file_id)
    }

    /// The file, if it is in the cache (marked as used). Blocking.
    pub fn get(&self, store: &Store, file_id: &str) -> Result<Option<PathBuf>, StoreError> {
        let path = self.path(file_id);
        if !path.is_file() {
            if store.cache_touch(file_id)? {
                store.cache_forget(file_id)?;
            }
            return Ok(None);
        }
        store.cache_touch(file_id)?;
        Ok(Some(path))
    }

    /// Evicts until the cache fits in `limit` bytes. Blocking. Returns what was deleted.
    pub fn trim(&self, store: &Store, limit: u64) -> Result<Vec<String>, StoreError> {
        let gone = store.cache_evict(limit)?;
        for id in &gone {
            let _ = std::fs::remove_file(self.path(id));
        }
        Ok(gone)
    }
}
