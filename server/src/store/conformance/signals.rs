//! The signal log: deduplication under concurrency, expiry, durability,
//! paging and filters, and executions created with their signal.

use super::{TestBackend, id_at};
use crate::{
    market::instrument::Instrument,
    model::{
        execution::Execution,
        signal::{Intent, Overrides, Signal, SignalAction, SignalOutcome},
    },
    store::{
        DedupeKey, ExecutionQuery, ExecutionWrite, SignalQuery, SignalWrite, SignalWriteResult,
    },
};

/// An accepted buy `id` from `source` for `symbol`.
fn accepted(id: &str, source: &str, symbol: &str) -> Signal {
    Signal {
        raw_symbol: symbol.into(),
        intent: Some(Intent {
            instrument: Instrument {
                symbol: symbol.into(),
                ..Instrument::spot("BTC", "USDT")
            },
            action: SignalAction::Buy,
            quantity: None,
            price: None,
            confidence: None,
            target_position: None,
            strategy_position: None,
            event_time_ms: None,
            exit_percent: None,
            overrides: Overrides::default(),
        }),
        ..Signal::received(id.into(), source, 0)
    }
}

/// A signal row with `id`, deduplicated on `key` if given.
pub fn signal(id: &str, key: Option<&str>) -> SignalWrite {
    let signal = accepted(id, "grpc", "BTC-USDT");
    let dedupe = key.map(|k| DedupeKey {
        key: k.into(),
        expires_ms: i64::MAX,
        earlier: None,
    });
    SignalWrite::new(&signal, dedupe)
}

fn all(limit: u32) -> SignalQuery {
    SignalQuery {
        limit,
        ..Default::default()
    }
}

pub async fn concurrent_duplicates_resolve_to_the_first(backend: &impl TestBackend) {
    let store = backend.open().await;
    let mut tasks = Vec::new();
    for i in 0..50 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .record_signal(signal(&format!("id-{i:03}"), Some("same-key")))
                .await
                .unwrap()
        }));
    }
    let mut inserted = 0;
    let mut firsts = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            SignalWriteResult::Inserted => inserted += 1,
            SignalWriteResult::Duplicate(first) => firsts.push(first.id),
        }
    }
    assert_eq!(inserted, 1, "exactly one write wins the key");
    let stored = store.list_signals(&all(100)).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert!(
        firsts.iter().all(|id| *id == stored[0].id),
        "every duplicate is answered with the first signal"
    );
}

/// A burst over a few keys: the writers group signals, so a signal and
/// its duplicates often share a group, and are answered as well as those
/// that come in later groups.
pub async fn a_burst_over_a_few_keys_keeps_the_first_of_each(backend: &impl TestBackend) {
    const KEYS: usize = 6;
    let store = backend.open().await;
    let mut tasks = Vec::new();
    for i in 0..60 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let (id, key) = (format!("burst-{i:03}"), format!("key-{}", i % KEYS));
            let result = store.record_signal(signal(&id, Some(&key))).await.unwrap();
            (id, key, result)
        }));
    }
    let mut firsts = std::collections::HashMap::new();
    let mut answered = Vec::new();
    for task in tasks {
        match task.await.unwrap() {
            (id, key, SignalWriteResult::Inserted) => {
                assert!(firsts.insert(key, id).is_none(), "one write wins each key");
            }
            (_, key, SignalWriteResult::Duplicate(first)) => answered.push((key, first.id)),
        }
    }
    assert_eq!(firsts.len(), KEYS);
    for (key, first) in answered {
        assert_eq!(
            firsts[&key], first,
            "a duplicate of {key} is answered with its first"
        );
    }
    assert_eq!(store.list_signals(&all(100)).await.unwrap().len(), KEYS);
}

pub async fn expired_keys_are_forgotten(backend: &impl TestBackend) {
    let store = backend.open().await;
    let mut first = signal("a", Some("k"));
    first.dedupe.as_mut().unwrap().expires_ms = 1;
    assert_eq!(
        store.record_signal(first).await.unwrap(),
        SignalWriteResult::Inserted
    );
    assert_eq!(
        store.record_signal(signal("b", Some("k"))).await.unwrap(),
        SignalWriteResult::Inserted
    );
    assert_eq!(store.purge_expired_keys(i64::MAX).await.unwrap(), 1);
}

/// A write whose `earlier` key is alive is a duplicate of that key's
/// signal; an expired earlier key is not.
pub async fn an_earlier_bucket_key_marks_a_duplicate_while_it_lives(backend: &impl TestBackend) {
    let store = backend.open().await;
    store
        .record_signal(signal("first", Some("bucket-1")))
        .await
        .unwrap();
    let mut retry = signal("retry", Some("bucket-2"));
    retry.dedupe.as_mut().unwrap().earlier = Some("bucket-1".into());
    match store.record_signal(retry).await.unwrap() {
        SignalWriteResult::Duplicate(first) => assert_eq!(first.id, "first"),
        other => panic!("a retry in the next bucket is a duplicate: {other:?}"),
    }
    let mut expired = signal("old", Some("bucket-3"));
    expired.dedupe.as_mut().unwrap().expires_ms = 1;
    store.record_signal(expired).await.unwrap();
    let mut repeat = signal("repeat", Some("bucket-4"));
    repeat.dedupe.as_mut().unwrap().earlier = Some("bucket-3".into());
    assert_eq!(
        store.record_signal(repeat).await.unwrap(),
        SignalWriteResult::Inserted,
        "an expired earlier key is forgotten"
    );
}

pub async fn writes_survive_reopening(backend: &impl TestBackend) {
    let store = backend.open().await;
    store
        .record_signal(signal("persisted", None))
        .await
        .unwrap();
    store.close().await;
    assert!(
        store.record_signal(signal("late", None)).await.is_err(),
        "closed store refuses writes"
    );
    let reopened = backend.open().await;
    assert!(reopened.get_signal("persisted").await.unwrap().is_some());
    assert!(reopened.get_signal("late").await.unwrap().is_none());
}

pub async fn signals_page_and_filter(backend: &impl TestBackend) {
    let store = backend.open().await;
    let mut ids = Vec::new();
    for i in 0..6u16 {
        let id = id_at(1_000 * u64::from(i + 1), i);
        let source = if i % 2 == 0 { "grpc" } else { "webhook" };
        let symbol = if i < 3 { "BTC-USDT" } else { "ETH-USDT" };
        let stored = Signal {
            strategy: format!("s{}", i % 3),
            outcome: SignalOutcome::ALL[usize::from(i % 2)],
            ..accepted(&id, source, symbol)
        };
        store
            .record_signal(SignalWrite::new(&stored, None))
            .await
            .unwrap();
        ids.push(id);
    }
    let page = |q: SignalQuery| {
        let store = store.clone();
        async move {
            let found = store.list_signals(&q).await.unwrap();
            found.into_iter().map(|s| s.id).collect::<Vec<_>>()
        }
    };
    let newest: Vec<_> = ids.iter().rev().cloned().collect();
    assert_eq!(page(all(2)).await, newest[..2], "newest first, limited");
    let next = SignalQuery {
        before_id: Some(newest[1].clone()),
        ..all(10)
    };
    assert_eq!(page(next).await, newest[2..], "the cursor pages on");
    let filtered = SignalQuery {
        source: Some("webhook".into()),
        ..all(10)
    };
    assert_eq!(
        page(filtered).await,
        [ids[5].as_str(), ids[3].as_str(), ids[1].as_str()]
    );
    let filtered = SignalQuery {
        symbol: Some("BTC-USDT".into()),
        strategy: Some("s0".into()),
        ..all(10)
    };
    assert_eq!(page(filtered).await, [ids[0].as_str()]);
    let filtered = SignalQuery {
        outcome: Some(SignalOutcome::Duplicate),
        ..all(10)
    };
    assert_eq!(page(filtered).await.len(), 3);
    let range = SignalQuery {
        start_ms: Some(2_000),
        end_ms: Some(4_000),
        ..all(10)
    };
    assert_eq!(
        page(range).await,
        [ids[2].as_str(), ids[1].as_str()],
        "start inclusive, end exclusive"
    );
}

/// A queued execution of `pipeline` for `signal_id`.
pub fn queued(id: &str, pipeline: &str, signal_id: &str) -> ExecutionWrite {
    ExecutionWrite {
        execution: Execution::pending(
            id.into(),
            pipeline.into(),
            String::new(),
            signal_id.into(),
            0,
        ),
        traceparent: format!("trace-of-{id}"),
        request_id: None,
        skip_if_running: false,
    }
}

pub async fn a_signal_creates_its_executions_only_when_new(backend: &impl TestBackend) {
    let store = backend.open().await;
    let mut first = signal("s1", Some("key"));
    first.executions = vec![queued("e1", "p", "s1"), queued("e2", "q", "s1")];
    assert_eq!(
        store.record_signal(first).await.unwrap(),
        SignalWriteResult::Inserted
    );
    let mut again = signal("s2", Some("key"));
    again.executions = vec![queued("e3", "p", "s2")];
    assert!(matches!(
        store.record_signal(again).await.unwrap(),
        SignalWriteResult::Duplicate(_)
    ));
    let query = ExecutionQuery {
        limit: 10,
        ..Default::default()
    };
    let created: Vec<_> = store
        .list_executions(&query)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(created, ["e2", "e1"], "a duplicate creates none");
    assert_eq!(store.pending_executions().await.unwrap(), 2);
}
