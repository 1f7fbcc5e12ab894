//! The conformance suite, run against SQLite files in a temporary
//! directory.

use std::sync::Arc;

use super::SqliteStore;
use crate::store::{Store, StoreConfig, conformance::TestBackend};

/// A database file in a directory of its own.
struct SqliteBackend {
    dir: tempfile::TempDir,
}

impl TestBackend for SqliteBackend {
    async fn create() -> Option<Self> {
        Some(Self {
            dir: tempfile::tempdir().unwrap(),
        })
    }

    async fn open(&self) -> Arc<dyn Store> {
        let meter = opentelemetry::global::meter("test");
        let url = format!("sqlite://{}", self.dir.path().join("t.db").display());
        let config = StoreConfig {
            max_batch: 64,
            read_connections: 2,
            ..StoreConfig::default()
        };
        Arc::new(SqliteStore::open(&url, &config, &meter).await.unwrap())
    }
}

crate::conformance_suite!(SqliteBackend);
