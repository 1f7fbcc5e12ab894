//! The notification outbox: queuing once per event and subscription with
//! a cursor that never goes back, claims under leases (of two stores
//! claiming at once, each delivery goes to one), settlements each way,
//! dead letters and the depth.

use std::collections::BTreeSet;

use super::TestBackend;
use crate::store::{Delivery, DeliveryState, NewDelivery, OutboxDepth, Settlement};

/// Delivery of event `sequence` to `subscription`, queued at `created_ms`.
fn new(sequence: i64, subscription: &str, created_ms: i64) -> NewDelivery {
    NewDelivery {
        sequence,
        subscription: subscription.into(),
        body: format!(r#"{{"text":"event {sequence} for {subscription}"}}"#),
        created_ms,
    }
}

/// `queued` as it stands before any attempt.
fn pending(queued: &NewDelivery) -> Delivery {
    Delivery {
        sequence: queued.sequence,
        subscription: queued.subscription.clone(),
        body: queued.body.clone(),
        state: DeliveryState::Pending,
        attempts: 0,
        next_attempt_ms: queued.created_ms,
        last_error: String::new(),
        created_ms: queued.created_ms,
        lease_until_ms: 0,
    }
}

/// `queued` claimed under a lease until `lease_until_ms`.
fn held(queued: &NewDelivery, lease_until_ms: i64) -> Delivery {
    Delivery {
        lease_until_ms,
        ..pending(queued)
    }
}

/// The (sequence, subscription) of each delivery.
fn keys(deliveries: &[Delivery]) -> Vec<(i64, &str)> {
    deliveries
        .iter()
        .map(|d| (d.sequence, d.subscription.as_str()))
        .collect()
}

pub async fn deliveries_are_queued_once_and_the_cursor_never_goes_back(backend: &impl TestBackend) {
    let store = backend.open().await;
    assert_eq!(store.outbox_cursor().await.unwrap(), 0);
    assert_eq!(store.outbox_depth().await.unwrap(), OutboxDepth::default());
    let first = [
        new(1, "slack", 1_000),
        new(1, "tg", 1_000),
        new(3, "tg", 1_100),
    ];
    store.queue_deliveries(5, &first).await.unwrap();
    assert_eq!(store.outbox_cursor().await.unwrap(), 5);

    // Another reader of the same events, behind: its copies change
    // nothing, what is new is queued, and the cursor stays.
    let again = NewDelivery {
        body: "rendered again".into(),
        ..new(1, "tg", 2_000)
    };
    let late = [again.clone(), new(4, "tg", 2_000), again];
    store.queue_deliveries(3, &late).await.unwrap();
    assert_eq!(store.outbox_cursor().await.unwrap(), 5, "never back");
    let listed = store
        .list_deliveries(DeliveryState::Pending, 10)
        .await
        .unwrap();
    assert_eq!(
        listed,
        [
            pending(&late[1]),
            pending(&first[2]),
            pending(&first[0]),
            pending(&first[1]),
        ],
        "newest first, each as first queued"
    );
    assert_eq!(
        keys(
            &store
                .list_deliveries(DeliveryState::Pending, 2)
                .await
                .unwrap()
        ),
        [(4, "tg"), (3, "tg")]
    );
    // Events that match no subscription still move the cursor.
    store.queue_deliveries(9, &[]).await.unwrap();
    assert_eq!(store.outbox_cursor().await.unwrap(), 9);
    assert_eq!(
        store.outbox_depth().await.unwrap(),
        OutboxDepth {
            pending: 4,
            oldest_pending_ms: Some(1_000),
            dead: 0,
        }
    );
    let reopened = backend.open().await;
    assert_eq!(reopened.outbox_cursor().await.unwrap(), 9, "durable");
}

pub async fn claims_lease_due_deliveries_oldest_first_until_the_lease_ends(
    backend: &impl TestBackend,
) {
    let store = backend.open().await;
    let queued = [
        new(2, "tg", 1_000),
        new(1, "tg", 1_000),
        new(1, "discord", 1_000),
        // Not due before 5_000.
        new(3, "tg", 5_000),
    ];
    store.queue_deliveries(3, &queued).await.unwrap();
    let claimed = store.claim_deliveries(1_000, 2_000, 2).await.unwrap();
    assert_eq!(claimed, [held(&queued[2], 2_000), held(&queued[1], 2_000)]);
    let claimed = store.claim_deliveries(1_500, 3_000, 10).await.unwrap();
    assert_eq!(
        claimed,
        [held(&queued[0], 3_000)],
        "held ones and undue ones wait"
    );
    assert_eq!(
        store.claim_deliveries(2_000, 4_000, 10).await.unwrap(),
        [],
        "a lease holds until its end"
    );
    assert_eq!(
        keys(&store.claim_deliveries(2_001, 6_000, 10).await.unwrap()),
        [(1, "discord"), (1, "tg")],
        "an expired lease is claimed again"
    );
    assert_eq!(
        keys(&store.claim_deliveries(5_000, 7_000, 10).await.unwrap()),
        [(2, "tg"), (3, "tg")],
        "what came due, and what its claimer's lease no longer holds"
    );
    assert_eq!(
        store.outbox_depth().await.unwrap().pending,
        4,
        "claimed deliveries still wait to be settled"
    );
}

pub async fn two_claimers_split_the_work(backend: &impl TestBackend) {
    const EVENTS: i64 = 30;
    let stores = [backend.open().await, backend.open().await];
    let queued: Vec<NewDelivery> = (1..=EVENTS)
        .flat_map(|sequence| [new(sequence, "a", 1_000), new(sequence, "b", 1_000)])
        .collect();
    stores[0].queue_deliveries(EVENTS, &queued).await.unwrap();
    let mut claimers = tokio::task::JoinSet::new();
    for store in stores.iter().chain(&stores) {
        let store = store.clone();
        claimers.spawn(async move {
            let mut claimed = Vec::new();
            // No claimer needs more claims than there are deliveries.
            for _ in 0..2 * EVENTS {
                let batch = store.claim_deliveries(1_000, 60_000, 3).await.unwrap();
                if batch.is_empty() {
                    break;
                }
                claimed.extend(batch.into_iter().map(|d| (d.sequence, d.subscription)));
            }
            claimed
        });
    }
    let mut claimed = Vec::new();
    while let Some(claimer) = claimers.join_next().await {
        claimed.extend(claimer.unwrap());
    }
    let distinct: BTreeSet<_> = claimed.iter().cloned().collect();
    assert_eq!(claimed.len(), distinct.len(), "no delivery claimed twice");
    let expected: BTreeSet<_> = queued
        .iter()
        .map(|d| (d.sequence, d.subscription.clone()))
        .collect();
    assert_eq!(distinct, expected, "every delivery claimed");
}

pub async fn settlements_count_attempts_release_leases_and_keep_dead_letters(
    backend: &impl TestBackend,
) {
    let store = backend.open().await;
    let queued = [
        new(1, "tg", 1_000),
        new(2, "tg", 1_100),
        new(3, "tg", 1_200),
    ];
    store.queue_deliveries(3, &queued).await.unwrap();
    let claimed = store.claim_deliveries(1_200, 9_000, 10).await.unwrap();
    assert_eq!(claimed.len(), 3);
    let retry = Settlement::Retry {
        next_attempt_ms: 1_500,
        error: "HTTP 503".into(),
    };
    let dead = Settlement::Dead {
        error: "HTTP 403: bot was blocked".into(),
    };
    assert!(store.settle_delivery(&claimed[0], &retry).await.unwrap());
    assert!(
        store
            .settle_delivery(&claimed[1], &Settlement::Delivered)
            .await
            .unwrap()
    );
    assert!(store.settle_delivery(&claimed[2], &dead).await.unwrap());

    assert_eq!(
        store.claim_deliveries(1_499, 9_000, 10).await.unwrap(),
        [],
        "a retry waits for its time"
    );
    let retried = Delivery {
        attempts: 1,
        next_attempt_ms: 1_500,
        last_error: "HTTP 503".into(),
        ..pending(&queued[0])
    };
    let reclaimed = store.claim_deliveries(1_500, 9_000, 10).await.unwrap();
    assert_eq!(
        reclaimed,
        [Delivery {
            lease_until_ms: 9_000,
            ..retried.clone()
        }],
        "its lease was released: claimed again before the first lease ends"
    );
    assert!(
        store
            .settle_delivery(&reclaimed[0], &Settlement::Delivered)
            .await
            .unwrap()
    );

    // Settled deliveries are no longer pending: nothing changes them.
    assert!(!store.settle_delivery(&claimed[1], &retry).await.unwrap());
    assert!(
        !store
            .settle_delivery(&claimed[2], &Settlement::Delivered)
            .await
            .unwrap()
    );
    let never_queued = Delivery {
        sequence: 9,
        ..claimed[0].clone()
    };
    assert!(!store.settle_delivery(&never_queued, &retry).await.unwrap());

    let delivered = store
        .list_deliveries(DeliveryState::Delivered, 10)
        .await
        .unwrap();
    assert_eq!(
        delivered,
        [
            Delivery {
                state: DeliveryState::Delivered,
                attempts: 1,
                ..pending(&queued[1])
            },
            Delivery {
                state: DeliveryState::Delivered,
                attempts: 2,
                ..retried
            },
        ]
    );
    let dead_letters = store
        .list_deliveries(DeliveryState::Dead, 10)
        .await
        .unwrap();
    assert_eq!(
        dead_letters,
        [Delivery {
            state: DeliveryState::Dead,
            attempts: 1,
            last_error: "HTTP 403: bot was blocked".into(),
            ..pending(&queued[2])
        }]
    );
    assert_eq!(
        store.claim_deliveries(99_000, 100_000, 10).await.unwrap(),
        []
    );
    assert_eq!(
        store.outbox_depth().await.unwrap(),
        OutboxDepth {
            pending: 0,
            oldest_pending_ms: None,
            dead: 1,
        }
    );
}

pub async fn a_holder_whose_lease_ran_out_settles_nothing(backend: &impl TestBackend) {
    let store = backend.open().await;
    store
        .queue_deliveries(1, &[new(1, "tg", 1_000)])
        .await
        .unwrap();
    let stale = store.claim_deliveries(1_000, 2_000, 10).await.unwrap();
    // The first holder stalls past its lease; another claims the delivery.
    let fresh = store.claim_deliveries(2_001, 5_000, 10).await.unwrap();
    assert_eq!(keys(&fresh), [(1, "tg")]);
    let dead = Settlement::Dead {
        error: "HTTP 403".into(),
    };
    assert!(
        !store.settle_delivery(&stale[0], &dead).await.unwrap(),
        "the stale holder's word does not count"
    );
    assert_eq!(store.outbox_depth().await.unwrap().pending, 1);
    assert!(
        store
            .settle_delivery(&fresh[0], &Settlement::Delivered)
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .list_deliveries(DeliveryState::Delivered, 10)
            .await
            .unwrap()
            .len(),
        1
    );
}
