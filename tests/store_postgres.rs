//! The store conformance suite against PostgreSQL: every check the SQLite
//! backend passes, case for case, each on a fresh database.

use std::sync::Arc;

use tradeplane_server::store::{
    Change, PostgresStore, Store, StoreConfig, conformance::TestBackend,
};

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
            PostgresStore::open(&self.url, &config, &opentelemetry::global::meter("test"))
                .await
                .expect("the store opens"),
        )
    }
}

tradeplane_server::conformance_suite!(PostgresBackend);

/// The store with a fresh database of its own, or `None` (skipped).
async fn fresh_store() -> Option<Arc<dyn Store>> {
    let backend = PostgresBackend::create().await?;
    Some(backend.open().await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_announces_shared_changes_and_queued_executions() {
    let Some(store) = fresh_store().await else {
        return;
    };
    let mut feed = store.changes().expect("PostgreSQL announces changes");
    assert_eq!(
        feed.next().await.expect("the feed connects"),
        Change::Missed,
        "a new feed knows nothing of what came before"
    );
    let within = std::time::Duration::from_secs(10);
    store
        .put_setting("trading.halt", "true".into(), Vec::new())
        .await
        .expect("a setting is written");
    let change = tokio::time::timeout(within, feed.next())
        .await
        .expect("announced")
        .expect("the feed reads");
    let Change::Shared { table, sent_ms } = change else {
        panic!("a shared change, not {change:?}");
    };
    assert_eq!(table, "settings");
    assert!(sent_ms > 0);

    let execution = tradeplane_server::store::conformance::queued("e1", "p", "");
    store
        .insert_execution(execution)
        .await
        .expect("an execution is queued");
    let change = tokio::time::timeout(within, feed.next())
        .await
        .expect("announced")
        .expect("the feed reads");
    assert_eq!(change, Change::Queued);
}
