//! Wiring: opens the store, builds every domain, and serves gRPC and HTTP on
//! real sockets until asked to stop. Tests start it in-process on port 0;
//! `tradeplane serve` starts it from `main`.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use axum::{
    Router,
    extract::State,
    http::{StatusCode, header},
    response::IntoResponse,
    routing::{get, post},
};
use tokio::{net::TcpListener, sync::watch, task::JoinHandle};
use tokio_util::sync::CancellationToken;
use tonic::transport::server::TcpIncoming;
use tonic_health::{ServingStatus, server::HealthReporter};
use tower::util::MapResponseLayer;
use tradeplane_api::{
    notification_service_server::NotificationServiceServer,
    order_service_server::OrderServiceServer, pipeline_service_server::PipelineServiceServer,
    security_admin_service_server::SecurityAdminServiceServer,
    signal_service_server::SignalServiceServer,
};

use crate::{
    config::Config,
    controls::breakers::{self, CircuitBreakers},
    duty::{self, Duty},
    edge::{grpc_incoming, http_serve, malformed, shed::ShedLayer, watch_end::EndWatchesLayer},
    market::{account, symbol::SymbolNormalizer},
    model::signal::{Signal, SignalOutcome},
    notify::{
        daily_summary::DailySummary, dispatcher::Dispatcher, registry::Registry,
        service::NotificationGrpc, subscriptions::Subscriptions,
        telegram_commands::TelegramCommands,
    },
    orders::OrderGrpc,
    orders::{
        desk::{DeskParts, OrderDesk},
        exchanges::{
            Exchange, alpaca::AlpacaExchange, binance::BinanceExchange, bybit::BybitExchange,
            okx::OkxExchange, paper::PaperExchange,
        },
    },
    pipelines::{self, PipelineGrpc, Pipelines},
    replication,
    security::SecurityAdminGrpc,
    security::{
        AuthLayer, Security,
        tls::{self, HttpListener},
    },
    settings::Setting,
    signals::{SignalGrpc, SignalIntake},
    store::{self, SettingStore, Store, StoreError},
    telemetry::{Telemetry, TelemetryLayer},
    webhook::{self, WebhookState, auth::WebhookAuth},
};

/// The health-check service name orchestrators use for readiness.
pub const READINESS_SERVICE: &str = "readiness";
/// How often expired idempotency keys are purged.
const PURGE_INTERVAL: Duration = Duration::from_secs(60);
/// How often a gRPC connection is pinged, and how long the answer may take.
const GRPC_KEEP_ALIVE: Duration = Duration::from_secs(20);

/// A running server. Drop does not stop it: call [`RunningServer::shutdown`].
pub struct RunningServer {
    /// Bound gRPC address.
    pub grpc_addr: SocketAddr,
    /// Bound HTTP address.
    pub http_addr: SocketAddr,
    stop: watch::Sender<bool>,
    streams_end: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
    health: HealthReporter,
    ready: Arc<AtomicBool>,
    store: Arc<dyn Store>,
    security: Arc<Security>,
    telemetry: Arc<Telemetry>,
    drain_timeout: Duration,
    drain_delay: Duration,
}

struct HttpState {
    telemetry: Arc<Telemetry>,
    store: Arc<dyn Store>,
    ready: Arc<AtomicBool>,
}

/// Starts serving with `config`; returns once both ports are bound and the
/// store is open.
pub async fn start(config: Config) -> anyhow::Result<RunningServer> {
    std::fs::create_dir_all(&config.data_dir).map_err(|e| {
        anyhow::anyhow!("cannot create data_dir {}: {e}", config.data_dir.display())
    })?;
    let telemetry = Arc::new(Telemetry::new(config.telemetry.metrics)?);
    let meter = telemetry.meter().clone();
    let store = store::open(&config.store_url(), &config.store, &meter).await?;

    let security = Security::open(
        &config.security,
        &config.webhook,
        &config.data_dir,
        store.clone(),
        &meter,
    )
    .await?;
    let paper = Arc::new(PaperExchange::new(config.exchanges.paper.clone()));
    let mut venues: Vec<Arc<dyn Exchange>> = Vec::new();
    for (market, section) in config.exchanges.binance_markets() {
        for (name, settings) in section.accounts_in_force() {
            let binance = BinanceExchange::new(market, &name, &settings).map_err(|e| {
                anyhow::anyhow!(
                    "invalid configuration of the {} account `{name}`: {e}",
                    market.name()
                )
            })?;
            venues.push(Arc::new(binance));
        }
    }
    for (name, settings) in config.exchanges.okx.accounts_in_force() {
        let okx = OkxExchange::new(&name, &settings).map_err(|e| {
            anyhow::anyhow!("invalid configuration of the okx account `{name}`: {e}")
        })?;
        venues.push(Arc::new(okx));
    }
    let bybit = &config.exchanges.bybit;
    for (name, connection) in bybit.accounts_in_force() {
        let venue = BybitExchange::new(&name, &connection, bybit).map_err(|e| {
            anyhow::anyhow!("invalid configuration of the bybit account `{name}`: {e}")
        })?;
        venues.push(Arc::new(venue));
    }
    let alpaca = &config.exchanges.alpaca;
    for (name, connection) in alpaca.accounts_in_force() {
        let venue = AlpacaExchange::new(&name, &connection, alpaca).map_err(|e| {
            anyhow::anyhow!("invalid configuration of the alpaca account `{name}`: {e}")
        })?;
        venues.push(Arc::new(venue));
    }
    // One normalizer for every surface, so a mapped spelling means the
    // same instrument in signals, PlaceOrder and RunPipeline.
    let normalizer = Arc::new(
        SymbolNormalizer::new(&config.signals.symbol_map)
            .map_err(|e| anyhow::anyhow!("invalid configuration key `signals.symbol_map`: {e}"))?,
    );
    let keys = std::iter::once(paper.name().to_string())
        .chain(venues.iter().map(|v| account::key(v.name(), v.account())));
    let breakers = Arc::new(open_breakers(&*store, keys, config.exchanges.breaker, &meter).await?);
    let desk = Arc::new(
        OrderDesk::open(
            DeskParts {
                store: store.clone(),
                paper,
                venues,
                breakers: breakers.clone(),
                halt: security.halt.clone(),
                audit: security.audit.clone(),
                normalizer: normalizer.clone(),
                resend_within: config.exchanges.resend_within,
            },
            &meter,
        )
        .await
        .map_err(|e| anyhow::anyhow!("cannot open the order desk: {e}"))?,
    );
    // One replica at a time runs the upkeep: the sync, the keeper's
    // checks and the approval sweep ask whether this one is on duty. What
    // stopped processes left open is settled before new orders flow, here
    // only by the replica on duty: the others may still be placing it.
    let (duty, mut election) = duty::elect(&*store, &meter);
    match election.as_mut() {
        None => desk.recover().await,
        Some(election) => {
            if election.try_now().await {
                desk.take_over().await;
            }
        }
    }
    let pipelines = Pipelines::open(
        store.clone(),
        desk.clone(),
        security.audit.clone(),
        normalizer.clone(),
        config.pipelines.max_pipelines,
        &meter,
    )
    .await
    .map_err(|e| anyhow::anyhow!("cannot load the pipelines: {e}"))?;
    let intake = Arc::new(
        SignalIntake::new(config.signals.clone(), normalizer, store.clone(), &meter)
            .with_planner(pipelines.clone()),
    );
    let subscriptions = Registry::open(&config.notify, store.clone())
        .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
    let notifications =
        Dispatcher::new(&config.notify, subscriptions.clone(), store.clone(), &meter);
    let notification_grpc = NotificationGrpc::new(
        Arc::new(Subscriptions::new(
            subscriptions,
            store.clone(),
            security.audit.clone(),
        )),
        store.clone(),
    );
    let daily_summary = config.notify.daily_summary.as_ref().map(|section| {
        DailySummary::new(
            section,
            store.clone(),
            desk.clone(),
            pipelines.clone(),
            security.audit.clone(),
        )
    });
    let (telegram_bot, telegram_inbox) = match &config.notify.telegram_commands {
        Some(commands) => {
            let (bot, inbox) =
                TelegramCommands::new(commands, security.clone(), pipelines.clone(), desk.clone())
                    .map_err(|e| anyhow::anyhow!("invalid configuration: {e}"))?;
            (Some(bot), inbox)
        }
        None => (None, None),
    };
    let webhook_auth = WebhookAuth::new(
        &config.webhook.hmac_secret,
        config.webhook.trust_forwarded_for,
    );
    let webhook_state = Arc::new(WebhookState::new(
        intake.clone(),
        webhook_auth,
        security.clone(),
        config.webhook.body_limit_bytes,
    ));

    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_serving::<SignalServiceServer<SignalGrpc>>()
        .await;
    health.set_serving::<OrderServiceServer<OrderGrpc>>().await;
    health
        .set_serving::<PipelineServiceServer<PipelineGrpc>>()
        .await;
    health
        .set_serving::<SecurityAdminServiceServer<SecurityAdminGrpc>>()
        .await;
    health
        .set_serving::<NotificationServiceServer<NotificationGrpc>>()
        .await;
    store.ping().await?;
    health
        .set_service_status(READINESS_SERVICE, ServingStatus::Serving)
        .await;
    let ready = Arc::new(AtomicBool::new(true));

    let grpc_listener = TcpListener::bind(config.grpc_listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on grpc_listen {}: {e}", config.grpc_listen))?;
    let http_listener = TcpListener::bind(config.http_listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on http_listen {}: {e}", config.http_listen))?;
    let grpc_addr = grpc_listener.local_addr()?;
    let http_addr = http_listener.local_addr()?;
    let (stop, stopped) = watch::channel(false);
    let streams_end = CancellationToken::new();

    let reflection = config.reflection.then(|| {
        let builder = || {
            tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(tradeplane_api::FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
                // The error details every error carries, so that dynamic
                // clients (grpcurl) decode them.
                .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET)
        };
        (builder().build_v1(), builder().build_v1alpha())
    });
    let (reflection_v1, reflection_v1alpha) = match reflection {
        Some((v1, v1alpha)) => (Some(v1?), Some(v1alpha?)),
        None => (None, None),
    };
    let mut grpc = tonic::transport::Server::builder();
    if let Some(tls) = tls::grpc_tls(&config.tls)? {
        grpc = grpc.tls_config(tls)?;
    }
    let grpc = grpc
        // Dead peers are found and their connections closed.
        .http2_keepalive_interval(Some(GRPC_KEEP_ALIVE))
        .http2_keepalive_timeout(Some(GRPC_KEEP_ALIVE))
        .layer(TelemetryLayer::grpc(&meter, config.telemetry.spans)?)
        .layer(ShedLayer::grpc(config.limits.grpc_max_in_flight, &meter))
        .layer(MapResponseLayer::new(malformed::rescue))
        .layer(EndWatchesLayer::new(streams_end.clone()))
        .layer(AuthLayer::new(security.clone()))
        .add_service(health_service)
        .add_optional_service(reflection_v1)
        .add_optional_service(reflection_v1alpha)
        .add_service(SignalServiceServer::new(SignalGrpc::new(
            intake.clone(),
            streams_end.clone(),
        )))
        .add_service(OrderServiceServer::new(OrderGrpc::new(
            desk.clone(),
            breakers.clone(),
            streams_end.clone(),
        )))
        .add_service(PipelineServiceServer::new(PipelineGrpc::new(
            pipelines.clone(),
            streams_end.clone(),
        )))
        .add_service(SecurityAdminServiceServer::new(SecurityAdminGrpc::new(
            security.clone(),
            breakers.clone(),
            streams_end.clone(),
        )))
        .add_service(NotificationServiceServer::new(notification_grpc))
        .serve_with_incoming_shutdown(
            // Without TCP_NODELAY, Nagle's algorithm and delayed ACKs add
            // ~40 ms to some responses.
            grpc_incoming::limited(
                TcpIncoming::from(grpc_listener).with_nodelay(Some(true)),
                &config.limits,
                &meter,
            ),
            wait_for_stop(stopped.clone()),
        );

    let http_state = Arc::new(HttpState {
        telemetry: telemetry.clone(),
        store: store.clone(),
        ready: ready.clone(),
    });
    let router = Router::new()
        .route("/webhooks/tradingview", post(webhook::tradingview))
        .with_state(webhook_state)
        .merge(webhook::telegram::router(
            telegram_inbox,
            config.webhook.trust_forwarded_for,
            security.clone(),
        ))
        .merge(
            Router::new()
                .route("/metrics", get(metrics))
                .route("/healthz", get(|| async { "ok\n" }))
                .route("/readyz", get(readyz))
                .with_state(http_state),
        )
        .layer(ShedLayer::http(config.limits.http_max_in_flight, &meter))
        .layer(TelemetryLayer::http(&meter, config.telemetry.spans)?);
    let http_listener = HttpListener::new(http_listener, &config.tls)?;
    let limits = config.limits.clone();
    let http_meter = meter.clone();
    let http_stop = wait_for_stop(stopped.clone());

    let mut tasks = Vec::new();
    if let Some(election) = election {
        tasks.push(tokio::spawn(election.run(stopped.clone())));
    }
    tasks.push(tokio::spawn(async move {
        if let Err(err) = grpc.await {
            tracing::error!(error = %err, "gRPC server failed");
        }
    }));
    tasks.push(tokio::spawn(async move {
        http_serve::serve(http_listener, router, &limits, &http_meter, http_stop).await;
    }));
    tasks.push(tokio::spawn(sync_orders(
        desk.clone(),
        config.exchanges.sync_interval,
        duty.clone(),
        stopped.clone(),
    )));
    tasks.push(tokio::spawn(feed_signal_prices(
        intake.subscribe(),
        desk.clone(),
        stopped.clone(),
    )));
    tasks.extend(pipelines.start_workers(
        config.pipelines.workers,
        config.pipelines.lease,
        stopped.clone(),
    ));
    tasks.push(tokio::spawn(pipelines.clone().keep_brackets(
        config.pipelines.reconcile_every,
        duty.clone(),
        stopped.clone(),
    )));
    tasks.push(tokio::spawn(pipelines::approvals::run_approval_sweep(
        pipelines.clone(),
        duty,
        stopped.clone(),
    )));
    tasks.push(tokio::spawn(pipelines::schedule::run_schedules(
        pipelines.clone(),
        stopped.clone(),
    )));
    // Replicas share a PostgreSQL database; SQLite has one process.
    if let Some(mut feed) = store.changes() {
        // Listening before start-up returns (and the ports are announced):
        // no change another replica makes after that is missed.
        feed.listen()
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen for the other replicas' changes: {e}"))?;
        let shared = replication::Shared {
            security: security.clone(),
            pipelines,
            breakers,
            intake: intake.clone(),
            desk: desk.clone(),
            audit: security.audit.clone(),
            store: store.clone(),
        };
        tasks.push(tokio::spawn(desk.clone().follow_paper(stopped.clone())));
        let follower = replication::Follower::new(shared, feed, config.store.reload_every, &meter);
        tasks.push(tokio::spawn(follower.follow(stopped.clone())));
    }
    tasks.push(tokio::spawn(notifications.run(stopped.clone())));
    if let Some(summary) = daily_summary {
        // A window ended while no replica ran is reported before start-up
        // returns.
        let next = summary.catch_up().await;
        tasks.push(tokio::spawn(summary.run(next, stopped.clone())));
    }
    if let Some(bot) = telegram_bot {
        tasks.push(tokio::spawn(bot.run(stopped.clone())));
    }
    tasks.push(tokio::spawn(purge_expired_keys(store.clone(), stopped)));

    Ok(RunningServer {
        grpc_addr,
        http_addr,
        stop,
        streams_end,
        tasks,
        health,
        ready,
        store,
        security,
        telemetry,
        drain_timeout: config.shutdown_timeout,
        drain_delay: config.drain_delay,
    })
}

impl RunningServer {
    /// The store the server writes to.
    pub fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    /// Graceful shutdown: readiness goes NOT_SERVING, the listeners close,
    /// watch streams end, in-flight calls drain (up to the configured timeout), queued writes
    /// commit, and metrics flush.
    pub async fn shutdown(mut self) {
        self.ready.store(false, Ordering::SeqCst);
        self.health
            .set_service_status(READINESS_SERVICE, ServingStatus::NotServing)
            .await;
        tokio::time::sleep(self.drain_delay).await;
        let _ = self.stop.send(true);
        self.streams_end.cancel();
        let drain = futures::future::join_all(self.tasks.iter_mut());
        if tokio::time::timeout(self.drain_timeout, drain)
            .await
            .is_err()
        {
            tracing::warn!(
                "in-flight calls did not finish within the shutdown timeout; closing them"
            );
            for task in &self.tasks {
                task.abort();
            }
        }
        self.security.shutdown().await;
        self.store.close().await;
        self.telemetry.shutdown();
    }
}

/// Every exchange account's breaker, by key, as last persisted.
async fn open_breakers(
    store: &dyn SettingStore,
    keys: impl Iterator<Item = String>,
    config: breakers::BreakerConfig,
    meter: &opentelemetry::metrics::Meter,
) -> Result<CircuitBreakers, StoreError> {
    let mut exchanges = std::collections::BTreeMap::new();
    for key in keys {
        let stored = Setting::new(breakers::setting_key(&key))
            .load(store)
            .await?;
        exchanges.insert(key, stored);
    }
    Ok(CircuitBreakers::new(exchanges, config, meter))
}

/// Keeps open orders up to date with their exchanges while this replica
/// is on `duty` (fills of resting orders, and orders whose placement
/// outcome was unknown), and settles what stopped replicas left open
/// whenever it takes the duty over.
async fn sync_orders(
    desk: Arc<OrderDesk>,
    every: Duration,
    duty: Duty,
    mut stopped: watch::Receiver<bool>,
) {
    // Start-up settled what was left open if this replica was on duty.
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut was_on = duty.is_on();
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stopped.changed() => return,
        }
        let on = duty.is_on();
        match (was_on, on) {
            (false, true) => desk.take_over().await,
            (true, true) => {
                desk.sync_open_orders().await;
            }
            _ => {}
        }
        was_on = on;
    }
}

/// Prices of accepted signals reach the paper exchange, so that resting
/// paper orders fill when the market crosses them.
async fn feed_signal_prices(
    mut signals: tokio::sync::broadcast::Receiver<Arc<Signal>>,
    desk: Arc<OrderDesk>,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        let signal = tokio::select! {
            received = signals.recv() => match received {
                Ok(signal) => signal,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            },
            _ = stopped.changed() => return,
        };
        if let (SignalOutcome::Accepted, Some(intent)) = (signal.outcome, &signal.intent)
            && let Some(price) = intent.price
        {
            desk.observe_price(&intent.instrument.symbol, price).await;
        }
    }
}

async fn wait_for_stop(mut stopped: watch::Receiver<bool>) {
    let _ = stopped.wait_for(|stop| *stop).await;
}

async fn purge_expired_keys(store: Arc<dyn Store>, mut stopped: watch::Receiver<bool>) {
    let mut ticker = tokio::time::interval(PURGE_INTERVAL);
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                if let Err(err) = store.purge_expired_keys(chrono::Utc::now().timestamp_millis()).await {
                    tracing::warn!(error = %err, "purging idempotency keys failed");
                }
            }
            _ = stopped.changed() => return,
        }
    }
}

async fn metrics(State(state): State<Arc<HttpState>>) -> impl IntoResponse {
    match state.telemetry.render() {
        Ok(text) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
            text,
        ),
        Err(err) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/plain")],
            format!("metrics encoding failed: {err}\n"),
        ),
    }
}

async fn readyz(State(state): State<Arc<HttpState>>) -> impl IntoResponse {
    if !state.ready.load(Ordering::SeqCst) {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n");
    }
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, "ready\n"),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "store unavailable\n"),
    }
}
