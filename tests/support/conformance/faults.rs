//! What a remote venue's connector must survive: every fault of the
//! shared core ending with exactly one order at the venue and its true
//! state here, bans, signatures, the venue's clock, a crash mid-placement,
//! and credentials kept out of logs, metrics and the audit.

use std::time::Duration;

use tonic::Code;
use tradeplane_api::*;
use tradeplane_client::Client;

use super::{MockedVenue, order_on, price, serve, trading};
use crate::{
    TestServer, audit_events, error_reason, list_exchanges, list_orders,
    mock_venue::{Fault, Route},
    order_reaches, place_order, serve_async,
};

/// Every fault of the shared core on placement: the order ends filled,
/// the venue holds it once, and a retry is the same order.
pub async fn every_fault_ends_with_exactly_one_order<V: MockedVenue>() {
    let (venue, server, client) = trading::<V>().await;
    for (name, fault) in Fault::matrix() {
        venue.fail_next(Route::PlaceOrder, fault);
        let placed = place_order(&client, order_on::<V>(name, Side::Buy, "0.001", None)).await;
        assert_eq!(
            placed.status,
            OrderStatus::Filled as i32,
            "{name}: {placed:?}"
        );
        assert_eq!(placed.fills.len(), 1, "{name}: {placed:?}");
        assert_eq!(
            venue.orders_with_client_id(&placed.client_order_id),
            1,
            "{name}: exactly one order at the venue"
        );
        let retried = place_order(&client, order_on::<V>(name, Side::Buy, "0.001", None)).await;
        assert_eq!(retried.id, placed.id, "{name}: a retry is the same order");
        assert_eq!(venue.orders_with_client_id(&placed.client_order_id), 1);
    }
    assert_eq!(venue.order_count(), Fault::matrix().len());

    // A cancel whose answer is lost still ends canceled, once.
    let resting = place_order(
        &client,
        order_on::<V>("cancel-lost", Side::Buy, "0.001", Some("30000")),
    )
    .await;
    venue.fail_next(Route::CancelOrder, Fault::LoseAnswer);
    let canceled = match crate::cancel_order(&client, &resting.id).await {
        Ok(order) if order.status == OrderStatus::Canceled as i32 => order,
        _ => order_reaches(&client, &resting.id, OrderStatus::Canceled).await,
    };
    assert_eq!(canceled.id, resting.id);
    assert!(!venue.open_at_venue(&resting.client_order_id));
    server.stop().await;
}

/// A lost answer whose lookups fail too leaves the order unknown, never
/// sent again; a later lookup (the sync) settles it.
pub async fn a_lookup_that_fails_settles_later<V: MockedVenue>() {
    let (venue, server, client) = trading::<V>().await;
    venue.fail_next(Route::PlaceOrder, Fault::LoseAnswer);
    for _ in 0..5 {
        venue.fail_next(Route::QueryOrder, Fault::ServerError);
    }
    let unknown = place_order(&client, order_on::<V>("unknown", Side::Buy, "0.001", None)).await;
    assert!(
        [OrderStatus::Unknown as i32, OrderStatus::Filled as i32].contains(&unknown.status),
        "{unknown:?}"
    );
    let settled = order_reaches(&client, &unknown.id, OrderStatus::Filled).await;
    assert_eq!(settled.fills.len(), 1);
    let again = place_order(&client, order_on::<V>("unknown", Side::Buy, "0.001", None)).await;
    assert_eq!(again.id, unknown.id);
    assert_eq!(venue.order_count(), 1, "never sent twice");
    server.stop().await;
}

/// A ban fails the order it answered and opens the venue's breaker at
/// once: no order reaches the venue, while other venues trade on.
pub async fn a_ban_stops_orders_at_once<V: MockedVenue>() {
    let venue = V::start().await;
    let server = TestServer::start_with(|config| {
        venue.configure(config);
        config.exchanges.breaker.cooldown = Duration::from_secs(60);
    })
    .await;
    let client = server.trader().await;
    venue.fail_next(
        Route::PlaceOrder,
        Fault::Banned {
            retry_after_secs: 30,
        },
    );
    let banned = place_order(&client, order_on::<V>("banned", Side::Buy, "0.001", None)).await;
    assert_eq!(banned.status, OrderStatus::Failed as i32, "{banned:?}");
    let breaker = list_exchanges(&client)
        .await
        .into_iter()
        .find(|e| e.name == V::EXCHANGE)
        .map(|e| e.breaker_state);
    assert_eq!(
        breaker,
        Some(CircuitBreakerState::Open as i32),
        "one ban is enough"
    );
    let refused = client
        .orders()
        .place_order(order_on::<V>("after-ban", Side::Buy, "0.001", None))
        .await
        .expect_err("the breaker is open");
    assert_eq!(error_reason(&refused), "CIRCUIT_OPEN");
    assert_eq!(venue.order_count(), 0);
    // The paper exchange has its own breaker and trades on (BTC/USDT,
    // whatever the venue's market).
    let paper = place_order(
        &client,
        PlaceOrderRequest {
            exchange: "paper".into(),
            symbol: "BTC/USDT".into(),
            reference_price: "50000".into(),
            ..order_on::<V>("paper", Side::Buy, "0.001", None)
        },
    )
    .await;
    assert_eq!(paper.status, OrderStatus::Filled as i32, "{paper:?}");
    server.stop().await;
}

/// Requests signed with the wrong secret are refused by the venue's own
/// check, and nothing is placed; with the right one none is refused.
pub async fn signs_every_request_the_venue_way<V: MockedVenue>() {
    let venue = V::start().await;
    let server = TestServer::start_with(|config| venue.configure_wrong_secret(config)).await;
    let client = server.trader().await;
    let refused = client
        .orders()
        .place_order(order_on::<V>("bad-sig", Side::Buy, "0.001", None))
        .await;
    let placed_nothing = match refused {
        Ok(reply) => {
            let order = reply.into_inner().order.expect("an order");
            order.status == OrderStatus::Rejected as i32
                || order.status == OrderStatus::Failed as i32
        }
        Err(status) => status.code() != Code::Ok,
    };
    assert!(placed_nothing, "a bad signature places nothing");
    assert!(venue.refused_signatures() > 0, "the venue checked it");
    assert_eq!(venue.order_count(), 0);
    server.stop().await;

    let server = serve(&venue).await;
    let client = server.trader().await;
    let before = venue.refused_signatures();
    let placed = place_order(&client, order_on::<V>("good-sig", Side::Buy, "0.001", None)).await;
    assert_eq!(placed.status, OrderStatus::Filled as i32, "{placed:?}");
    assert_eq!(venue.refused_signatures(), before);
    server.stop().await;
}

/// With the venue's clock 3 s ahead of ours and a 1 s window, requests
/// are accepted only if the connector learned the offset.
pub async fn learns_the_venues_clock<V: MockedVenue>() {
    for offset in [3_000, -3_000] {
        let venue = V::start().await;
        venue.set_clock_offset(offset);
        let server = serve(&venue).await;
        let client = server.trader().await;
        let placed = place_order(&client, order_on::<V>("clock", Side::Buy, "0.001", None)).await;
        assert_eq!(
            placed.status,
            OrderStatus::Filled as i32,
            "offset {offset}: {placed:?}"
        );
        assert_eq!(venue.refused_signatures(), 0, "offset {offset}");
        server.stop().await;
    }
}

/// The real binary is killed while the venue holds an order it never
/// answered for; the market then fills it. The restart shows it filled
/// before serving, and nothing was sent twice.
pub async fn a_crash_mid_placement_is_reconciled_at_restart<V: MockedVenue>() {
    let venue = V::start().await;
    venue.fail_next(Route::PlaceOrder, Fault::Hang);
    let dir = tempfile::tempdir().expect("temp dir");
    let data_dir = dir.path().join("data");
    let env = venue.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let served = serve_async(&data_dir, &env).await;
    let client = Client::connect(&served.grpc, Some(&served.api_key))
        .await
        .expect("client connects");
    let in_flight = {
        let client = client.clone();
        tokio::spawn(async move {
            client
                .orders()
                .place_order(order_on::<V>("crash", Side::Buy, "0.001", Some("49000")))
                .await
        })
    };
    crate::eventually(
        Duration::from_secs(20),
        Duration::from_millis(20),
        || async {
            match venue.order_count() {
                0 => Err("the order has not reached the venue".to_string()),
                _ => Ok(()),
            }
        },
    )
    .await;
    served.kill();
    assert!(
        in_flight.await.expect("task").is_err(),
        "the caller saw the crash"
    );
    venue.move_market(&client, &price::<V>("48000")).await;

    let restarted = serve_async(&data_dir, &env).await;
    let client = Client::connect(&restarted.grpc, Some(&restarted.api_key))
        .await
        .expect("client connects");
    let orders = list_orders(&client).await;
    assert_eq!(orders.len(), 1);
    let reconciled = &orders[0];
    assert_eq!(
        reconciled.status,
        OrderStatus::Filled as i32,
        "filled before the server answered anything: {reconciled:?}"
    );
    assert!(!reconciled.exchange_order_id.is_empty());
    assert_eq!(reconciled.fills.len(), 1);
    assert_eq!(venue.order_count(), 1, "nothing was sent twice");
    restarted.kill();
    let log = std::fs::read_to_string(dir.path().join("data.log")).expect("server log");
    assert!(log.contains(V::EXCHANGE), "the log is the server's");
    for secret in venue.secrets() {
        assert!(!log.contains(&secret), "a credential reached the log");
    }
}

/// Credentials appear in no metric and no audit detail, even after
/// orders, refusals and a breaker trip.
pub async fn credentials_never_reach_logs_metrics_or_audit<V: MockedVenue>() {
    let venue = V::start().await;
    let server = serve(&venue).await;
    let client = server.client().await;
    place_order(&client, order_on::<V>("c-1", Side::Buy, "0.001", None)).await;
    place_order(&client, order_on::<V>("c-2", Side::Buy, "10", None)).await;
    crate::trip_breaker(&client, V::EXCHANGE).await;
    let metrics = server.metrics().await;
    assert!(metrics.contains(&format!("exchange=\"{}\"", V::EXCHANGE)));
    let events = audit_events(&client, "").await;
    assert!(
        events.iter().any(|e| e.action == "order.place"),
        "the audit has the orders: {events:?}"
    );
    let audit = format!("{events:?}");
    for secret in venue.secrets() {
        assert!(
            !metrics.contains(&secret),
            "a credential reached the metrics"
        );
        assert!(!audit.contains(&secret), "a credential reached the audit");
    }
    server.stop().await;
}
