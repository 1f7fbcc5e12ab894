//! The store conformance suite against PostgreSQL: every check the SQLite
//! backend passes, case for case, each on a fresh database.

use std::sync::Arc;

use tradeplane_server::store::{PostgresStore, Store, StoreConfig, conformance::TestBackend};

/// A fresh database on the test server.
struct PostgresBackend {
    url: String,
}

impl TestBackend for PostgresBackend {
    async fn create() -> Option<Self> {
        let url = tradeplane_e2e::fresh_postgres_database("the store conformance suite").await?;
        Some(Self { url })
    }

    async fn open(&self) -> Arc<dyn Store> {
        let config = StoreConfig {
            pool_size: 4,
            ..StoreConfig::default()
        };
        Arc::new(
            PostgresStore::open(&self.url, &config)
                .await
                .expect("the store opens"),
        )
    }
}

tradeplane_server::conformance_suite!(PostgresBackend);
