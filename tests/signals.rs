//! SignalService end to end over real gRPC: submit, reject, dedupe, get,
//! list with filters and pages, watch, and the bidirectional stream.

use std::time::Duration;

use futures::StreamExt;
use tonic::Code;
use tonic_types::StatusExt;
use tradeplane_api::{
    GetSignalRequest, ListSignalsRequest, SignalAction, SignalFilter, SignalOutcome,
    SubmitSignalRequest, SubmitSignalsRequest, WatchSignalsRequest, submit_signals_response,
};
use tradeplane_e2e::{TestServer, list_signals, submit};

fn buy(symbol: &str) -> SubmitSignalRequest {
    SubmitSignalRequest {
        strategy: "e2e".into(),
        symbol: symbol.into(),
        action: "buy".into(),
        quantity: "0.5".into(),
        price: "100".into(),
        request_id: uuid::Uuid::now_v7().to_string(),
        ..Default::default()
    }
}

#[tokio::test]
async fn an_accepted_signal_is_normalized_stored_and_readable() {
    let server = TestServer::start().await;
    let client = server.client().await;
    let mut request = buy("BINANCE:BTCUSDT.P");
    request.confidence = "0.8".into();
    request.tags.insert("desk".into(), "alpha".into());
    let response = submit(&client, request).await;
    assert_eq!(response.outcome(), SignalOutcome::Accepted);
    let signal = response.signal.unwrap();
    let instrument = signal.instrument.clone().unwrap();
    assert_eq!(
        (instrument.venue.as_str(), instrument.symbol.as_str()),
        ("BINANCE", "BTC/USDT:PERP")
    );
    assert_eq!(signal.action(), SignalAction::Buy);
    assert_eq!(
        (
            signal.quantity.as_str(),
            signal.price.as_str(),
            signal.confidence.as_str()
        ),
        ("0.5", "100", "0.8")
    );
    assert_eq!(signal.source, "grpc");
    assert!(uuid::Uuid::parse_str(&signal.id).is_ok_and(|id| id.get_version_num() == 7));

    let fetched = client
        .signals()
        .get_signal(GetSignalRequest {
            id: signal.id.clone(),
        })
        .await
        .unwrap();
    assert_eq!(fetched.into_inner().signal.unwrap(), signal);

    let missing = client
        .signals()
        .get_signal(GetSignalRequest {
            id: uuid::Uuid::now_v7().to_string(),
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    let garbage = client
        .signals()
        .get_signal(GetSignalRequest { id: "nope".into() })
        .await
        .unwrap_err();
    assert_eq!(garbage.code(), Code::InvalidArgument);
    server.stop().await;
}

#[tokio::test]
async fn bad_input_is_rejected_field_by_field_and_recorded() {
    let server = TestServer::start().await;
    let client = server.client().await;
    let request = SubmitSignalRequest {
        symbol: "NOT A SYMBOL".into(),
        action: "hodl".into(),
        price: "NaN".into(),
        quantity: "-2".into(),
        ..Default::default()
    };
    let status = client.signals().submit_signal(request).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let info = status.get_details_error_info().expect("ErrorInfo");
    assert_eq!(info.domain, "tradeplane");
    assert_eq!(info.reason, "BAD_SYMBOL");
    let fields: Vec<String> = status
        .get_details_bad_request()
        .expect("BadRequest")
        .field_violations
        .into_iter()
        .map(|v| v.field)
        .collect();
    assert_eq!(fields, ["symbol", "action", "quantity", "price"]);

    // Nothing is lost: the rejection is on record with its reasons.
    let filter = SignalFilter {
        outcome: SignalOutcome::Rejected as i32,
        ..Default::default()
    };
    let listed = list_signals(&client, filter).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].reject_reason, "bad_symbol");
    assert_eq!(listed[0].field_violations.len(), 4);
    // What arrived is kept as sent, and tpctl shows it.
    assert_eq!(
        (listed[0].raw_symbol.as_str(), listed[0].raw_action.as_str()),
        ("NOT A SYMBOL", "hodl")
    );
    let table = server
        .tpctl(&["signal", "list", "--outcome", "rejected"])
        .await;
    let row = table.lines().nth(1).expect("a row under the header");
    assert!(row.contains(" hodl "), "{table}");
    server.stop().await;
}

#[tokio::test]
async fn duplicates_return_the_first_signal() {
    let server = TestServer::start().await;
    let client = server.client().await;
    let request = buy("BTCUSDT");
    let first = submit(&client, request.clone()).await;
    let again = submit(&client, request.clone()).await;
    assert_eq!(first.outcome(), SignalOutcome::Accepted);
    assert_eq!(again.outcome(), SignalOutcome::Duplicate);
    assert_eq!(again.signal.unwrap().id, first.signal.unwrap().id);

    // Without a request id, the strategy order id + event time + body is the key.
    let at = prost_types::Timestamp {
        seconds: chrono::Utc::now().timestamp(),
        nanos: 0,
    };
    let keyed = SubmitSignalRequest {
        request_id: String::new(),
        order_id: "Long".into(),
        event_time: Some(at),
        ..request
    };
    let a = submit(&client, keyed.clone()).await;
    let b = submit(&client, keyed).await;
    assert_eq!(
        (a.outcome(), b.outcome()),
        (SignalOutcome::Accepted, SignalOutcome::Duplicate)
    );

    let metrics = server.metrics().await;
    assert!(
        metrics.contains(r#"tradeplane_signals_total{outcome="duplicate",source="grpc"} 2"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"tradeplane_signals_total{outcome="accepted",source="grpc"} 2"#));
    server.stop().await;
}

#[tokio::test]
async fn concurrent_retries_record_one_signal() {
    let server = TestServer::start().await;
    let client = server.client().await;
    let request = buy("ETHUSDT");
    let attempts = (0..20).map(|_| {
        let client = client.clone();
        let request = request.clone();
        tokio::spawn(async move { submit(&client, request).await })
    });
    let results = futures::future::join_all(attempts).await;
    let ids: std::collections::HashSet<String> = results
        .iter()
        .map(|r| r.as_ref().unwrap().signal.clone().unwrap().id)
        .collect();
    assert_eq!(ids.len(), 1, "every retry sees the same signal");
    let accepted = results
        .iter()
        .filter(|r| r.as_ref().unwrap().outcome() == SignalOutcome::Accepted)
        .count();
    assert_eq!(accepted, 1);
    server.stop().await;
}

#[tokio::test]
async fn list_filters_and_pages() {
    let server = TestServer::start().await;
    let client = server.client().await;
    for symbol in ["BTCUSDT", "ETHUSDT", "BTC-USDT", "SOLUSDT", "btc/usdt"] {
        submit(&client, buy(symbol)).await;
    }
    let mut from_bot = buy("BTCUSDT");
    from_bot.source = "bot-7".into();
    submit(&client, from_bot).await;

    let list = |filter: SignalFilter, page_size: i32, page_token: String| {
        let client = client.clone();
        async move {
            client
                .signals()
                .list_signals(ListSignalsRequest {
                    page_size,
                    page_token,
                    filter: Some(filter),
                })
                .await
                .unwrap()
                .into_inner()
        }
    };
    // Any spelling of the symbol filters on the canonical instrument.
    let btc = list(
        SignalFilter {
            symbol: "BINANCE:BTCUSDT".into(),
            ..Default::default()
        },
        0,
        String::new(),
    )
    .await;
    assert_eq!(btc.signals.len(), 4);
    let bot = list(
        SignalFilter {
            source: "bot-7".into(),
            ..Default::default()
        },
        0,
        String::new(),
    )
    .await;
    assert_eq!(bot.signals.len(), 1);

    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = list(SignalFilter::default(), 2, token).await;
        assert!(page.signals.len() <= 2);
        seen.extend(page.signals.into_iter().map(|s| s.id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(seen.len(), 6, "pages cover every signal once");
    let mut sorted = seen.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(seen, sorted, "newest first");

    // Time filters: everything was received in the last minute.
    let minute_ago = prost_types::Timestamp {
        seconds: chrono::Utc::now().timestamp() - 60,
        nanos: 0,
    };
    let recent = list(
        SignalFilter {
            start_time: Some(minute_ago),
            ..Default::default()
        },
        0,
        String::new(),
    )
    .await;
    assert_eq!(recent.signals.len(), 6);
    let older = list(
        SignalFilter {
            end_time: Some(minute_ago),
            ..Default::default()
        },
        0,
        String::new(),
    )
    .await;
    assert!(older.signals.is_empty());

    let future = prost_types::Timestamp {
        seconds: chrono::Utc::now().timestamp() + 3600,
        nanos: 0,
    };
    let none = list(
        SignalFilter {
            start_time: Some(future),
            ..Default::default()
        },
        0,
        String::new(),
    )
    .await;
    assert!(none.signals.is_empty());

    let bad = client
        .signals()
        .list_signals(ListSignalsRequest {
            page_token: "garbage".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    server.stop().await;
}

#[tokio::test]
async fn watch_streams_matching_signals_live() {
    let server = TestServer::start().await;
    let client = server.client().await;
    let filter = SignalFilter {
        symbol: "ETH/USDT".into(),
        ..Default::default()
    };
    let mut stream = client
        .signals()
        .watch_signals(WatchSignalsRequest {
            filter: Some(filter),
        })
        .await
        .unwrap()
        .into_inner();
    submit(&client, buy("BTCUSDT")).await;
    let eth = submit(&client, buy("ETHUSDT")).await.signal.unwrap();
    let event = tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(
        event.signal.unwrap().id,
        eth.id,
        "the BTC signal is filtered out"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_slow_watcher_never_blocks_submission() {
    let server = TestServer::start().await;
    let client = server.client().await;
    // A watcher that never reads, on its own connection.
    let watcher = server.client().await;
    let _stalled = watcher
        .signals()
        .watch_signals(WatchSignalsRequest::default())
        .await
        .unwrap()
        .into_inner();
    let started = std::time::Instant::now();
    let submits = (0..300).map(|_| {
        let client = client.clone();
        tokio::spawn(async move { client.signals().submit_signal(buy("BTCUSDT")).await.is_ok() })
    });
    let results = tokio::time::timeout(Duration::from_secs(60), futures::future::join_all(submits))
        .await
        .unwrap();
    assert!(results.into_iter().all(|r| r.unwrap()));
    eprintln!("300 submits took {:?}", started.elapsed());
    server.stop().await;
}

#[tokio::test]
async fn the_stream_answers_each_request_in_order() {
    let server = TestServer::start().await;
    let client = server.client().await;
    let duplicate = buy("BTCUSDT");
    let mut requests: Vec<SubmitSignalRequest> = (0..50).map(|_| buy("BTCUSDT")).collect();
    requests[10] = SubmitSignalRequest {
        symbol: "???".into(),
        ..buy("x")
    };
    requests[20] = duplicate.clone();
    requests[21] = duplicate;
    let expected = requests.clone();
    let outbound = futures::stream::iter(requests.into_iter().map(|signal| SubmitSignalsRequest {
        signal: Some(signal),
    }));
    let responses: Vec<_> = client
        .signals()
        .submit_signals(outbound)
        .await
        .unwrap()
        .into_inner()
        .map(|r| r.unwrap())
        .collect()
        .await;
    assert_eq!(responses.len(), expected.len(), "one response per request");
    for (index, response) in responses.iter().enumerate() {
        assert_eq!(response.index, index as u64);
        match response.result.as_ref().unwrap() {
            submit_signals_response::Result::Rejected(rejection) => {
                assert_eq!(index, 10);
                assert_eq!(rejection.reason, "bad_symbol");
                assert_eq!(rejection.field_violations[0].field, "symbol");
            }
            submit_signals_response::Result::Submitted(submitted) => {
                let want = if index == 21 {
                    SignalOutcome::Duplicate
                } else {
                    SignalOutcome::Accepted
                };
                assert_eq!(submitted.outcome(), want, "index {index}");
            }
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn signals_survive_a_restart_and_so_does_dedupe() {
    let server = TestServer::start().await;
    let client = server.client().await;
    let request = buy("BTCUSDT");
    let first = submit(&client, request.clone()).await.signal.unwrap();
    let data_dir = server.stop().await;

    let server = TestServer::start_in(data_dir, |_| {}).await;
    let client = server.client().await;
    let stored = client
        .signals()
        .get_signal(GetSignalRequest {
            id: first.id.clone(),
        })
        .await
        .unwrap();
    assert_eq!(stored.into_inner().signal.unwrap(), first);
    let again = submit(&client, request).await;
    assert_eq!(again.outcome(), SignalOutcome::Duplicate);
    assert_eq!(again.signal.unwrap().id, first.id);
    server.stop().await;
}
