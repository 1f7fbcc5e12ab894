//! Running totals: an order change books its new fills once, in the write
//! that saves it, however many writers save that order; a copy behind the
//! stored order is refused; totals adjust in place and read by prefix.

use std::sync::Arc;

use rust_decimal::Decimal;

use super::{TestBackend, orders::order};
use crate::{
    model::order::{Fill, Order, OrderStatus},
    store::{
        AuditRow, Bookkeeping, OrderUpdate, Snapshot, Store, StoreError, TotalKey, verify_chain,
    },
};

/// Counts the fills booked per symbol: scope "fills", key the symbol.
struct CountFills;

impl Bookkeeping for CountFills {
    fn totals(&self, order: &Order) -> Vec<TotalKey> {
        vec![("fills".into(), order.symbol().into())]
    }

    fn book(
        &self,
        order: &Order,
        booked: usize,
        current: Vec<Option<String>>,
    ) -> Result<Vec<String>, StoreError> {
        let before: usize = match current.into_iter().next().flatten() {
            Some(body) => body
                .parse()
                .map_err(|_| StoreError::Corrupt(format!("not a count: {body}")))?,
            None => 0,
        };
        Ok(vec![(before + order.fills.len() - booked).to_string()])
    }
}

/// `order` with `fills` fills, in `status`.
fn with_fills(order: &Order, fills: usize, status: OrderStatus) -> Order {
    let mut copy = order.clone();
    copy.fills = (0..fills)
        .map(|n| Fill {
            trade_id: format!("t{n}"),
            quantity: Decimal::new(1, 1),
            price: Decimal::from(100),
            fee: Decimal::ZERO,
            fee_asset: "USDT".into(),
            time_ms: 1,
        })
        .collect();
    copy.status = status;
    copy
}

/// The booked fill count of `symbol`.
async fn booked(store: &dyn Store, symbol: &str) -> Vec<String> {
    store
        .snapshots("fills", symbol)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.body)
        .collect()
}

/// New fills are booked with the change that brings them, audited in the
/// same write; saving again books nothing more; a copy with fewer fills,
/// or as many while the stored order has ended, is refused.
pub async fn fills_are_booked_once_and_a_stale_copy_is_refused(backend: &impl TestBackend) {
    let store = backend.open().await;
    let books: Arc<dyn Bookkeeping> = Arc::new(CountFills);
    let placed = order("o1", "paper", "BTC-USDT");
    store.insert_order(&placed, None).await.unwrap();
    let part = with_fills(&placed, 1, OrderStatus::PartiallyFilled);
    let event = AuditRow {
        time_ms: 10,
        actor: "alice".into(),
        action: "order.place".into(),
        target: "o1".into(),
        outcome: 1,
        ..Default::default()
    };
    let saved = store
        .update_order(&part, books.clone(), vec![event])
        .await
        .unwrap();
    let OrderUpdate::Saved(rows) = saved else {
        panic!("not saved: {saved:?}");
    };
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].sequence, 1, "chained in the order's write");
    let verified = verify_chain(&*store).await.unwrap();
    assert_eq!((verified.events_checked, verified.first_broken), (1, None));
    assert_eq!(booked(&*store, "BTC-USDT").await, ["1"]);

    let again = store.update_order(&part, books.clone(), Vec::new()).await;
    assert_eq!(again.unwrap(), OrderUpdate::Saved(Vec::new()));
    assert_eq!(booked(&*store, "BTC-USDT").await, ["1"], "booked once");

    let behind = store.update_order(&placed, books.clone(), Vec::new()).await;
    assert_eq!(
        behind.unwrap(),
        OrderUpdate::Behind(Box::new(part.clone())),
        "a copy with fewer fills is refused"
    );
    let filled = with_fills(&placed, 2, OrderStatus::Filled);
    store
        .update_order(&filled, books.clone(), Vec::new())
        .await
        .unwrap();
    assert_eq!(booked(&*store, "BTC-USDT").await, ["2"]);
    let canceled = with_fills(&placed, 2, OrderStatus::Canceled);
    assert_eq!(
        store
            .update_order(&canceled, books.clone(), Vec::new())
            .await
            .unwrap(),
        OrderUpdate::Behind(Box::new(filled.clone())),
        "an ended order does not change without new fills"
    );
    let reopened = backend.open().await;
    assert_eq!(reopened.get_order("o1").await.unwrap(), Some(filled));
    assert_eq!(booked(&*reopened, "BTC-USDT").await, ["2"]);
    assert!(booked(&*reopened, "ETH").await.is_empty(), "read by prefix");
}

/// Two writers (as two replicas) that each saw the same fill of the same
/// order: one saves and books it, the other is refused.
pub async fn concurrent_writers_book_a_fill_once(backend: &impl TestBackend) {
    let (one, two) = (backend.open().await, backend.open().await);
    let books: Arc<dyn Bookkeeping> = Arc::new(CountFills);
    let rounds = 10;
    for n in 0..rounds {
        let placed = order(&format!("o{n}"), "paper", "ETH-USDT");
        one.insert_order(&placed, None).await.unwrap();
        let filled = with_fills(&placed, 1, OrderStatus::Filled);
        let (a, b) = tokio::join!(
            one.update_order(&filled, books.clone(), Vec::new()),
            two.update_order(&filled, books.clone(), Vec::new()),
        );
        let outcomes = [a.unwrap(), b.unwrap()];
        let saved = outcomes
            .iter()
            .filter(|o| matches!(o, OrderUpdate::Saved(_)))
            .count();
        assert_eq!(saved, 1, "{outcomes:?}");
    }
    assert_eq!(booked(&*one, "ETH-USDT").await, [rounds.to_string()]);
}

/// A total adjusts from its stored body in one write, and a saved
/// snapshot never goes back to an older version.
pub async fn totals_adjust_in_place_and_snapshots_never_go_back(backend: &impl TestBackend) {
    let store = backend.open().await;
    for (version, expected) in [(1, "5"), (2, "6")] {
        let adjust = Box::new(|current: Option<&str>| {
            Ok(match current {
                None => "5".to_string(),
                Some(body) => (body.parse::<i32>().unwrap_or(0) + 1).to_string(),
            })
        });
        store.adjust_total("count", "x", adjust).await.unwrap();
        assert_eq!(
            booked_in(&*store, "count").await,
            [(version, expected.to_string())]
        );
    }
    let snapshot = |version: i64| Snapshot {
        scope: "position".into(),
        key: "a".into(),
        version,
        body: format!("{{\"v\":{version}}}"),
    };
    store.save_snapshots(&[snapshot(2)]).await.unwrap();
    store.save_snapshots(&[snapshot(1)]).await.unwrap();
    let reopened = backend.open().await;
    assert_eq!(
        reopened.snapshots("position", "").await.unwrap(),
        [snapshot(2)],
        "an older version does not replace a newer one"
    );
}

/// Every (version, body) of `scope`.
async fn booked_in(store: &dyn Store, scope: &str) -> Vec<(i64, String)> {
    store
        .snapshots(scope, "")
        .await
        .unwrap()
        .into_iter()
        .map(|s| (s.version, s.body))
        .collect()
}
