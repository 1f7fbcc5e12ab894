//! Rows stored before requests were checked: an API key expiring past the
//! year 9999 and a pipeline with a negative cooldown. After the repair
//! migration and the pipelines' load, both list as valid values, the
//! pipeline still runs, and the stored rows are repaired.

use prost::Message;
use tradeplane_api::{
    CreateApiKeyRequest, ListApiKeysRequest, ListPipelinesRequest, Pipeline, Role,
};
use tradeplane_e2e::{TestServer, any_signal_pipeline, create_pipeline};

/// The last millisecond of the year 9999.
const END_OF_9999_MS: i64 = 253_402_300_799_999;

#[tokio::test]
async fn rows_out_of_range_are_repaired_and_never_poison_a_list() {
    let server = TestServer::start().await;
    let client = server.client().await;
    let key = client
        .security()
        .create_api_key(CreateApiKeyRequest {
            name: "old-bot".into(),
            role: Role::Viewer as i32,
            ttl: Some(prost_types::Duration {
                seconds: 3600,
                nanos: 0,
            }),
            ..Default::default()
        })
        .await
        .expect("a key")
        .into_inner()
        .api_key
        .expect("a key");
    let pipeline = create_pipeline(&client, any_signal_pipeline("old-cooldown")).await;
    let data_dir = server.stop().await;

    // What an older server stored, and a database the repair migration has
    // not run on yet.
    let db = rusqlite::Connection::open(data_dir.path().join("tradeplane.db")).expect("open");
    db.execute(
        "UPDATE api_keys SET expire_ms = ?1 WHERE id = ?2",
        rusqlite::params![i64::MAX / 2, key.id],
    )
    .expect("update key");
    let body: Vec<u8> = db
        .query_row(
            "SELECT body FROM pipelines WHERE id = ?1",
            [&pipeline.id],
            |r| r.get(0),
        )
        .expect("a pipeline row");
    let mut stored = Pipeline::decode(body.as_slice()).expect("decodes");
    stored.risk.get_or_insert_default().cooldown = Some(prost_types::Duration {
        seconds: -1,
        nanos: 0,
    });
    db.execute(
        "UPDATE pipelines SET body = ?1 WHERE id = ?2",
        rusqlite::params![stored.encode_to_vec(), pipeline.id],
    )
    .expect("update pipeline");
    db.execute("DELETE FROM _sqlx_migrations WHERE version = 8", [])
        .expect("forget the repair migration");
    drop(db);

    let server = TestServer::start_in(data_dir, |_| {}).await;
    let client = server.client().await;
    let keys = client
        .security()
        .list_api_keys(ListApiKeysRequest::default())
        .await
        .expect("the key list answers")
        .into_inner()
        .api_keys;
    let old = keys
        .iter()
        .find(|k| k.id == key.id)
        .expect("the old key is listed");
    let expire = old.expire_time.expect("an expiry");
    assert_eq!(
        expire.seconds * 1000 + i64::from(expire.nanos / 1_000_000),
        END_OF_9999_MS
    );

    let pipelines = client
        .pipelines()
        .list_pipelines(ListPipelinesRequest::default())
        .await
        .expect("the pipeline list answers")
        .into_inner()
        .pipelines;
    let listed = pipelines
        .iter()
        .find(|p| p.id == pipeline.id)
        .expect("still loaded");
    let cooldown = listed
        .risk
        .as_ref()
        .and_then(|r| r.cooldown)
        .expect("a cooldown");
    assert_eq!(
        (cooldown.seconds, cooldown.nanos),
        (0, 0),
        "clamped to zero"
    );

    let data_dir = server.stop().await;
    let db = rusqlite::Connection::open(data_dir.path().join("tradeplane.db")).expect("open");
    let body: Vec<u8> = db
        .query_row(
            "SELECT body FROM pipelines WHERE id = ?1",
            [&pipeline.id],
            |r| r.get(0),
        )
        .expect("a pipeline row");
    let repaired = Pipeline::decode(body.as_slice()).expect("decodes");
    assert_eq!(
        repaired.risk.and_then(|r| r.cooldown).map(|c| c.seconds),
        Some(0),
        "repaired in the store"
    );
}
