//! What telemetry costs one webhook call, measured in-process, where the
//! load generator's share of a 2-core box does not blur it: an HTTP call
//! through the server's telemetry layer to a handler that opens the
//! intake's `signal.submit` span over an await point, as the TradingView
//! webhook does. The subscriber is the server's own (`telemetry::subscriber`,
//! log lines at info into a sink); each mode sets the switches the way
//! `[telemetry]` does. The handler does no other work, so the difference
//! between modes is telemetry's cost per call.
//!
//! Run: `cargo bench -p tradeplane-server --bench telemetry`

use std::time::{Duration, Instant};

use axum::{Router, body::Body, extract::Request, routing::post};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use http_body_util::BodyExt;
use tower::ServiceExt;
use tracing::Instrument;
use tradeplane_server::{
    observe::CallTrace,
    telemetry::{
        self, Telemetry, TelemetryLayer,
        config::{LogConfig, TelemetryConfig},
    },
};

/// The webhook's shape: read the call's trace, open the intake's span, await.
async fn webhook(request: Request) -> &'static str {
    let trace = request
        .extensions()
        .get::<CallTrace>()
        .cloned()
        .unwrap_or_default();
    let span = tracing::info_span!("signal.submit", source = %"tradingview");
    async move {
        tokio::task::yield_now().await;
        std::hint::black_box(trace.traceparent());
    }
    .instrument(span)
    .await;
    "{\"accepted\":true}"
}

fn call_cost(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let mut group = c.benchmark_group("telemetry_webhook_call");
    group.throughput(Throughput::Elements(1));
    for (mode, metrics, spans) in [
        ("on", true, true),
        ("metrics_off", false, true),
        ("spans_off", true, false),
        ("off", false, false),
    ] {
        let telemetry = Telemetry::new(metrics).expect("telemetry");
        let switches = TelemetryConfig { metrics, spans };
        let (subscriber, _guard) =
            telemetry::subscriber(&LogConfig::default(), &switches, std::io::sink)
                .expect("a subscriber");
        let dispatch = tracing::Dispatch::new(subscriber);
        let router = Router::new()
            .route("/webhooks/tradingview", post(webhook))
            .layer(TelemetryLayer::http(telemetry.meter(), spans).expect("the layer"));
        let call = || {
            let router = router.clone();
            async move {
                let request = http::Request::post("/webhooks/tradingview")
                    .body(Body::from("{}"))
                    .expect("a request");
                let response = router.oneshot(request).await.expect("a response");
                // The call is recorded when its body ends.
                response.into_body().collect().await.expect("a body");
            }
        };
        group.bench_function(mode, |b| {
            b.iter_custom(|iterations| {
                tracing::dispatcher::with_default(&dispatch, || {
                    runtime.block_on(async {
                        let started = Instant::now();
                        for _ in 0..iterations {
                            call().await;
                        }
                        started.elapsed()
                    })
                })
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(5));
    targets = call_cost
}
criterion_main!(benches);
