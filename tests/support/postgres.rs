//! PostgreSQL for tests: `TRADEPLANE_TEST_DATABASE_URL` names a server
//! (`.ci/run` starts one on a loopback port), and each test gets a fresh
//! database of its own on it.

use sqlx::{Connection, Executor, PgConnection};

/// A new, empty database on the test server, as a URL; `None` (skip, see
/// [`crate::missing`]) when no server is configured.
pub async fn fresh_postgres_database(why: &str) -> Option<String> {
    let Ok(server) = std::env::var("TRADEPLANE_TEST_DATABASE_URL") else {
        crate::missing(
            &format!("TRADEPLANE_TEST_DATABASE_URL is not set ({why})"),
            "point it at a PostgreSQL server as .ci/run does",
        );
        return None;
    };
    let mut admin = PgConnection::connect(&server)
        .await
        .unwrap_or_else(|err| panic!("cannot reach PostgreSQL at {server}: {err}"));
    let name = format!("tradeplane_test_{}", uuid::Uuid::now_v7().simple());
    admin
        .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .await
        .expect("a test database");
    let mut url = url::Url::parse(&server).expect("TRADEPLANE_TEST_DATABASE_URL is a URL");
    url.set_path(&name);
    Some(url.to_string())
}
