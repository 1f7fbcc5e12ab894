//! Notification subscriptions: unique by name, a replayed `request_id`
//! answered with the first subscription, deletes, each audited in its own
//! transaction; and the deliveries of one subscription, paged.

use tradeplane_api::{Subscription, WebhookChannel, subscription::Channel};

use super::TestBackend;
use crate::store::{
    AuditQuery, AuditRow, DeliveryQuery, DeliveryState, NewDelivery, SubscriptionInsert,
};

fn subscription(name: &str, url: &str) -> Subscription {
    Subscription {
        name: name.into(),
        channel: Some(Channel::Webhook(WebhookChannel {
            url: url.into(),
            secret: "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0".into(),
        })),
        events: vec!["order_filled".into()],
        ..Default::default()
    }
}

fn audit(action: &str, target: &str) -> Vec<AuditRow> {
    vec![AuditRow {
        time_ms: 1,
        actor: "admin".into(),
        action: action.into(),
        target: target.into(),
        ..Default::default()
    }]
}

/// The actions and targets of the audit log, oldest first.
async fn audited(store: &dyn crate::store::Store) -> Vec<(String, String)> {
    let mut rows = store
        .list_audit(&AuditQuery {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    rows.reverse();
    rows.into_iter().map(|r| (r.action, r.target)).collect()
}

pub async fn subscriptions_are_unique_by_name_and_request_and_audited(backend: &impl TestBackend) {
    let store = backend.open().await;
    let desk = subscription("desk", "https://example.com/hook");
    let inserted = store
        .insert_subscription(
            &desk,
            Some("req-1"),
            audit("notify.subscription.create", "desk"),
        )
        .await
        .unwrap();
    assert!(
        matches!(&inserted, SubscriptionInsert::Inserted(events) if events.len() == 1 && events[0].sequence == 1),
        "inserted with its chained audit event"
    );
    let replay = store
        .insert_subscription(
            &subscription("other", "https://example.com/other"),
            Some("req-1"),
            audit("notify.subscription.create", "other"),
        )
        .await
        .unwrap();
    assert!(
        replay == SubscriptionInsert::RequestSeen(Box::new(desk.clone())),
        "a replay answers the first subscription, secrets included"
    );
    let taken = store
        .insert_subscription(
            &subscription("desk", "https://example.com/second"),
            None,
            audit("notify.subscription.create", "desk"),
        )
        .await
        .unwrap();
    assert!(taken == SubscriptionInsert::NameTaken);
    let alpha = subscription("alpha", "https://example.com/alpha");
    store
        .insert_subscription(&alpha, None, Vec::new())
        .await
        .unwrap();
    let reopened = backend.open().await;
    assert!(
        reopened.list_subscriptions().await.unwrap() == vec![alpha.clone(), desk.clone()],
        "every subscription, whole, by name"
    );
    assert!(
        reopened
            .delete_subscription("missing", audit("notify.subscription.delete", "missing"))
            .await
            .unwrap()
            .is_none()
    );
    let deleted = reopened
        .delete_subscription("desk", audit("notify.subscription.delete", "desk"))
        .await
        .unwrap();
    assert_eq!(deleted.map(|events| events.len()), Some(1));
    assert!(store.list_subscriptions().await.unwrap() == vec![alpha]);
    assert_eq!(
        audited(&*store).await,
        [
            ("notify.subscription.create".to_string(), "desk".to_string()),
            ("notify.subscription.delete".to_string(), "desk".to_string()),
        ],
        "refused writes audit nothing"
    );
    let recreated = store
        .insert_subscription(
            &subscription("desk", "https://example.com/new"),
            None,
            Vec::new(),
        )
        .await
        .unwrap();
    assert!(
        matches!(recreated, SubscriptionInsert::Inserted(_)),
        "a deleted name is free again"
    );
}

pub async fn deliveries_list_by_subscription_newest_first_in_pages(backend: &impl TestBackend) {
    let store = backend.open().await;
    let queued: Vec<NewDelivery> = [(1, "a"), (1, "b"), (2, "a"), (3, "b"), (3, "c")]
        .into_iter()
        .map(|(sequence, subscription)| NewDelivery {
            sequence,
            subscription: subscription.into(),
            body: "{}".into(),
            created_ms: 1_000,
        })
        .collect();
    store.queue_deliveries(3, &queued).await.unwrap();
    let keys = |query: DeliveryQuery| {
        let store = store.clone();
        async move {
            store
                .query_deliveries(&query)
                .await
                .unwrap()
                .into_iter()
                .map(|d| (d.sequence, d.subscription))
                .collect::<Vec<_>>()
        }
    };
    let pending = DeliveryQuery {
        state: Some(DeliveryState::Pending),
        subscription: None,
        after: None,
        limit: 2,
    };
    assert_eq!(
        keys(pending.clone()).await,
        [(3, "b".to_string()), (3, "c".to_string())]
    );
    assert_eq!(
        keys(DeliveryQuery {
            after: Some((3, "b".into())),
            ..pending.clone()
        })
        .await,
        [(3, "c".to_string()), (2, "a".to_string())],
        "the page after (3, b) starts within sequence 3"
    );
    assert_eq!(
        keys(DeliveryQuery {
            subscription: Some("a".into()),
            limit: 10,
            ..pending.clone()
        })
        .await,
        [(2, "a".to_string()), (1, "a".to_string())]
    );
    assert!(
        keys(DeliveryQuery {
            state: Some(DeliveryState::Dead),
            limit: 10,
            ..pending.clone()
        })
        .await
        .is_empty()
    );
    assert_eq!(
        keys(DeliveryQuery {
            state: None,
            limit: 10,
            ..pending.clone()
        })
        .await
        .len(),
        keys(DeliveryQuery {
            limit: 10,
            ..pending
        })
        .await
        .len(),
        "every state: here, all are pending"
    );
}
