//! Orders: inserts idempotent on `request_id` and client order id,
//! updates, paging and filters, and the whole-table walk.

use std::sync::Arc;

use rust_decimal::Decimal;

use super::{TestBackend, id_at};
use crate::{
    market::{instrument::InstrumentKind, side::Side},
    model::order::{Order, OrderOrigin, OrderStatus, OrderTicket},
    store::{Bookkeeping, OrderInsert, OrderQuery, StoreError, TotalKey, walk_orders},
};

/// A new buy `id` on `exchange` for `symbol`.
pub(super) fn order(id: &str, exchange: &str, symbol: &str) -> Order {
    let (base, quote) = symbol.split_once('-').unwrap_or((symbol, ""));
    let ticket = OrderTicket {
        client_order_id: format!("client-{id}"),
        symbol: symbol.into(),
        ..OrderTicket::market(Side::Buy, base, quote, Decimal::ONE)
    };
    let mut order = Order::new(&ticket, (exchange, "default"), OrderOrigin::default(), 0);
    order.id = id.into();
    order
}

/// An order of execution `execution` of `pipeline`, placed at `ms`.
fn placed_by(pipeline: &str, execution: &str, ms: u64, n: u16) -> Order {
    let mut placed = order(&id_at(ms, n), "paper", "BTC-USDT");
    placed.client_order_id = format!("client-{execution}-{n}");
    placed.origin.pipeline_id = pipeline.into();
    placed.origin.execution_id = execution.into();
    placed
}

pub async fn a_pipelines_recent_orders_are_counted(backend: &impl TestBackend) {
    let store = backend.open().await;
    let now = 1_700_000_060_000;
    let own = |execution: &str| format!("execution:{execution}");
    let orders = [
        // Before the window.
        (placed_by("p", "e1", now - 61_000, 1), own("e1")),
        // Inside it: e2's and e4's own orders, and a protective order.
        (placed_by("p", "e2", now - 30_000, 2), own("e2")),
        (placed_by("p", "e4", now - 1_000, 3), own("e4")),
        (placed_by("p", "e4", now - 1_000, 4), "stop:e4".to_string()),
        // Another pipeline's.
        (placed_by("q", "e3", now - 1_000, 5), own("e3")),
    ];
    for (placed, request) in &orders {
        assert_eq!(
            store.insert_order(placed, Some(request)).await.unwrap(),
            OrderInsert::Inserted
        );
    }
    let since = (now - 60_000) as i64;
    assert_eq!(
        store
            .count_pipeline_orders("p", since, "execution:")
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        store
            .count_pipeline_orders("q", since, "execution:")
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .count_pipeline_orders("none", since, "execution:")
            .await
            .unwrap(),
        0
    );
}

pub async fn orders_are_inserted_once(backend: &impl TestBackend) {
    let store = backend.open().await;
    // A named account is kept with the order, like every other field.
    let first = Order {
        account: "copy_a".into(),
        ..order("o1", "binance", "BTC-USDT")
    };
    assert_eq!(
        store.insert_order(&first, Some("req")).await.unwrap(),
        OrderInsert::Inserted
    );
    let retry = order("o2", "paper", "BTC-USDT");
    assert_eq!(
        store.insert_order(&retry, Some("req")).await.unwrap(),
        OrderInsert::Existing(Box::new(first.clone())),
        "the same request_id finds the first order"
    );
    let mut same_client = order("o3", "paper", "BTC-USDT");
    same_client.client_order_id = first.client_order_id.clone();
    assert_eq!(
        store.insert_order(&same_client, None).await.unwrap(),
        OrderInsert::Existing(Box::new(first.clone())),
        "the same client order id finds the first order"
    );
    let mut filled = first.clone();
    filled.status = OrderStatus::Filled;
    store
        .update_order(&filled, Arc::new(NoTotals), Vec::new())
        .await
        .unwrap();
    assert_eq!(store.get_order("o1").await.unwrap(), Some(filled.clone()));
    assert_eq!(store.get_order("o2").await.unwrap(), None);
    assert_eq!(
        store.order_for_request("req").await.unwrap(),
        Some(filled),
        "the request_id finds the order it created"
    );
    assert_eq!(store.order_for_request("other").await.unwrap(), None);
}

pub async fn a_perpetuals_reduce_only_order_keeps_its_kind(backend: &impl TestBackend) {
    let store = backend.open().await;
    let ticket = OrderTicket {
        client_order_id: "client-perp".into(),
        symbol: "BTC/USDT:PERP".into(),
        kind: InstrumentKind::Perpetual,
        reduce_only: true,
        ..OrderTicket::market(Side::Sell, "BTC", "USDT", Decimal::ONE)
    };
    let mut perp = Order::new(&ticket, ("paper", "default"), OrderOrigin::default(), 0);
    perp.id = "perp".into();
    store.insert_order(&perp, None).await.unwrap();
    let stored = store.get_order("perp").await.unwrap().expect("stored");
    assert_eq!(stored, perp);
    assert_eq!(stored.ticket(), ticket, "the ticket it was sent as");
}

pub async fn order_groups_are_inserted_whole_or_not_at_all(backend: &impl TestBackend) {
    let store = backend.open().await;
    let stop = order("g1", "paper", "BTC-USDT");
    let target = order("g2", "paper", "BTC-USDT");
    assert_eq!(
        store
            .insert_orders(&[(&stop, Some("stop")), (&target, Some("target"))])
            .await
            .unwrap(),
        OrderInsert::Inserted
    );
    assert_eq!(store.get_order("g2").await.unwrap(), Some(target.clone()));
    let fresh = order("g3", "paper", "BTC-USDT");
    assert_eq!(
        store
            .insert_orders(&[(&fresh, Some("fresh")), (&target, Some("target"))])
            .await
            .unwrap(),
        OrderInsert::Existing(Box::new(target)),
        "one existing member stops the whole group"
    );
    assert_eq!(
        store.get_order("g3").await.unwrap(),
        None,
        "nothing of a refused group is stored"
    );
}

pub async fn orders_page_and_filter(backend: &impl TestBackend) {
    let store = backend.open().await;
    let mut ids = Vec::new();
    for i in 0..6u16 {
        let id = id_at(1_000 * u64::from(i + 1), i);
        let mut placed = order(
            &id,
            if i % 2 == 0 { "paper" } else { "binance" },
            if i < 3 { "BTC-USDT" } else { "ETH-USDT" },
        );
        placed.side = Side::ALL[usize::from(i % 2)];
        placed.status = OrderStatus::ALL[usize::from(i % 3)];
        placed.origin.execution_id = format!("e{}", i / 2);
        store.insert_order(&placed, None).await.unwrap();
        ids.push(id);
    }
    let page = |q: OrderQuery| {
        let store = store.clone();
        async move {
            let found = store.list_orders(&q).await.unwrap();
            found.into_iter().map(|o| o.id).collect::<Vec<_>>()
        }
    };
    let all = |limit| OrderQuery {
        limit,
        ..Default::default()
    };
    assert_eq!(page(all(2)).await, [ids[5].as_str(), ids[4].as_str()]);
    let next = OrderQuery {
        before_id: Some(ids[4].clone()),
        ..all(2)
    };
    assert_eq!(page(next).await, [ids[3].as_str(), ids[2].as_str()]);
    let filtered = OrderQuery {
        exchange: Some("paper".into()),
        symbol: Some("BTC-USDT".into()),
        ..all(10)
    };
    assert_eq!(page(filtered).await, [ids[2].as_str(), ids[0].as_str()]);
    let filtered = OrderQuery {
        statuses: vec![OrderStatus::Submitted, OrderStatus::PartiallyFilled],
        side: Some(Side::Buy),
        ..all(10)
    };
    assert_eq!(page(filtered).await, [ids[4].as_str(), ids[2].as_str()]);
    let filtered = OrderQuery {
        execution_id: Some("e1".into()),
        ..all(10)
    };
    assert_eq!(page(filtered).await, [ids[3].as_str(), ids[2].as_str()]);
    let range = OrderQuery {
        start_ms: Some(5_000),
        ..all(10)
    };
    assert_eq!(page(range).await, [ids[5].as_str(), ids[4].as_str()]);
    let walked: Vec<_> = walk_orders(&*store, OrderQuery::default())
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.id)
        .collect();
    assert_eq!(walked, ids, "the walk returns every order, oldest first");
    let binance = OrderQuery {
        exchange: Some("binance".into()),
        ..Default::default()
    };
    let walked: Vec<_> = walk_orders(&*store, binance)
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.id)
        .collect();
    assert_eq!(
        walked,
        [ids[1].clone(), ids[3].clone(), ids[5].clone()],
        "the walk keeps its filter on every page"
    );
}

/// Books nothing.
struct NoTotals;

impl Bookkeeping for NoTotals {
    fn totals(&self, _: &Order) -> Vec<TotalKey> {
        Vec::new()
    }

    fn book(&self, _: &Order, _: usize, _: Vec<Option<String>>) -> Result<Vec<String>, StoreError> {
        Ok(Vec::new())
    }
}
