//! Position drift: a pipeline's book disagrees with its venue (the venue
//! holds less of an asset than the pipelines' long positions in it add up
//! to: something sold it outside them; for perpetuals, see
//! `perp_drift.rs`) or with its alerts (the strategy's
//! `market_position` is not the book's). Each drift is metered and audited
//! when it starts and when it ends; the pipeline's policy then warns only,
//! refuses new entries until it ends, or resyncs: the book adopts the
//! venue, and a long the strategy says it closed is sold.

use std::{
    cmp::Ordering,
    collections::{BTreeMap, HashMap},
};

use rust_decimal::Decimal;
use tradeplane_api::AuditOutcome;

use super::{
    Pipelines,
    spec::Compiled,
    worker::{origin_of, pipeline_audit},
};
use crate::{
    audit::{AuditEntry, actions},
    market::{
        account, instrument::InstrumentKind, position::Position, side::Side, symbol::is_perpetual,
    },
    model::{
        execution::Execution,
        order::{OrderOrigin, OrderRequest, OrderRole, OrderType, TimeInForce},
        signal::{MarketPosition, Signal},
    },
    store::StoreError,
    words::word_enum,
};

word_enum! {
    /// What a pipeline does about a drift.
    pub enum DriftPolicy {
        Warn => "warn",
        /// No new entries until the book agrees again.
        Refuse => "refuse",
        /// The book adopts the venue's figure once the same drift is
        /// found two rounds in a row (see [`confirmed`]).
        Resync => "resync",
    }
}

word_enum! {
    /// What the book disagrees with.
    pub enum DriftSource {
        Venue => "venue",
        Alert => "alert",
    }
}

/// A pipeline's long position: (pipeline id, symbol, quantity).
type Holding = (String, String, Decimal);

/// The drifts in force, by pipeline id and source, with their detail.
pub(super) type Drifts = HashMap<(String, DriftSource), String>;

impl Pipelines {
    /// Checks every pipeline's positions against its venue (spot
    /// holdings against balances, perpetuals against the venue's
    /// positions) and applies each pipeline's policy.
    pub(super) async fn reconcile_positions(&self) {
        let (positions, open) = match (self.desk.positions().await, self.desk.open_orders().await) {
            (Ok(positions), Ok(open)) => (positions, open),
            (Err(err), _) | (_, Err(err)) => {
                tracing::warn!(error = %err, "cannot read the positions to reconcile; next round");
                return;
            }
        };
        let before = self.drifts_of(DriftSource::Venue);
        let mut found = self.reconcile_holdings(&positions, &before).await;
        found.extend(self.reconcile_perpetuals(&positions, &open, &before).await);
        self.settle_drifts(DriftSource::Venue, found).await;
    }

    /// Compares the pipelines' long spot positions with their venues'
    /// balances, asset by asset, and applies each pipeline's policy;
    /// returns the drifts found, by pipeline id.
    async fn reconcile_holdings(
        &self,
        positions: &[(String, String, Position)],
        before: &HashMap<String, String>,
    ) -> HashMap<String, String> {
        let snapshot = self.snapshot();
        let mut held: BTreeMap<(String, String), Vec<Holding>> = BTreeMap::new();
        for (pipeline_id, symbol, position) in positions {
            let Some(compiled) = snapshot.get(pipeline_id) else {
                continue;
            };
            // A perpetual holds no base asset: its positions are compared
            // with the venue's positions instead.
            if position.quantity <= Decimal::ZERO || is_perpetual(symbol) {
                continue;
            }
            let venue = account::key(&compiled.exchange, &compiled.account);
            held.entry((venue, base_asset(symbol).to_string()))
                .or_default()
                .push((pipeline_id.clone(), symbol.clone(), position.quantity));
        }
        let mut found = HashMap::new();
        let mut venues: BTreeMap<String, Vec<(String, Decimal, Decimal)>> = BTreeMap::new();
        for ((exchange, asset), holders) in held {
            if !venues.contains_key(&exchange) {
                let (name, held_by) = account::split(&exchange);
                let Ok(venue) = self.desk.exchange(name, held_by) else {
                    continue;
                };
                match venue.balances().await {
                    Ok(balances) => venues.insert(exchange.clone(), balances),
                    Err(err) => {
                        tracing::warn!(exchange, error = %err, "cannot read balances to reconcile positions");
                        continue;
                    }
                };
            }
            let venue_holds: Decimal = venues[&exchange]
                .iter()
                .filter(|(a, _, _)| *a == asset)
                .map(|(_, free, locked)| free + locked)
                .sum();
            let booked: Decimal = holders.iter().map(|(_, _, q)| *q).sum();
            if venue_holds >= booked {
                continue;
            }
            let detail = format!(
                "the pipelines' book holds {booked} {asset} on {exchange}, the venue {venue_holds}"
            );
            for (pipeline_id, symbol, quantity) in holders {
                let Some(compiled) = snapshot.get(&pipeline_id) else {
                    continue;
                };
                if confirmed(compiled, before, &pipeline_id, &detail) {
                    // Each pipeline keeps its share of what the venue holds.
                    let share = (quantity * venue_holds / booked)
                        .max(Decimal::ZERO)
                        .round_dp(8);
                    self.resync(compiled, &symbol, share, &detail).await;
                }
                found.insert(pipeline_id, detail.clone());
            }
        }
        found
    }

    /// Sets the pipeline's book in `symbol` to `quantity`, audited with
    /// `why`.
    pub(super) async fn resync(
        &self,
        compiled: &Compiled,
        symbol: &str,
        quantity: Decimal,
        why: &str,
    ) {
        let audit = AuditEntry {
            detail: format!("{} {symbol} set to {quantity}: {why}", compiled.name),
            ..AuditEntry::system()
        };
        if let Err(err) = self
            .desk
            .resync_position(&compiled.id, symbol, quantity, audit)
            .await
        {
            tracing::error!(pipeline = %compiled.name, error = %err, "position not resynced");
        }
    }

    /// Records a drift of the book from an alert's own position (or its
    /// end, with `None`).
    pub(super) async fn alert_drift(&self, pipeline_id: &str, detail: Option<String>) {
        let mut drifts = self.drifts_of(DriftSource::Alert);
        match detail {
            Some(detail) => drifts.insert(pipeline_id.to_string(), detail),
            None => drifts.remove(pipeline_id),
        };
        self.settle_drifts(DriftSource::Alert, drifts).await;
    }

    /// After an execution that ended with the book settled (no order
    /// resting), compares the book with the position the alert says the
    /// strategy holds, by direction: flat is zero, long above it, short
    /// below it (or zero where the market cannot short).
    pub(super) async fn compare_with_alert(
        &self,
        compiled: &Compiled,
        signal: &Signal,
        execution: &Execution,
    ) {
        let Some(intent) = &signal.intent else { return };
        let Some(stated) = &intent.strategy_position else {
            return;
        };
        if let Some(id) = execution.order_ids.first()
            && self.desk.get(id).await.is_ok_and(|o| o.status.is_open())
        {
            return;
        }
        let can_short = intent.instrument.kind != InstrumentKind::Spot;
        let expected = match stated.market_position {
            MarketPosition::Flat => Ordering::Equal,
            MarketPosition::Long => Ordering::Greater,
            MarketPosition::Short if can_short => Ordering::Less,
            MarketPosition::Short => Ordering::Equal,
        };
        let symbol = &intent.instrument.symbol;
        let unread = |err: StoreError| {
            tracing::warn!(pipeline = %compiled.name, error = %err, "cannot read the position to compare with the strategy's");
        };
        let Ok(mut held) = self.held(compiled, symbol).await.map_err(unread) else {
            return;
        };
        if compiled.drift == DriftPolicy::Resync
            && expected == Ordering::Equal
            && held.quantity > Decimal::ZERO
        {
            self.close_as_the_strategy_did(
                compiled,
                execution,
                symbol,
                held.quantity,
                intent.price,
            )
            .await;
            let Ok(after) = self.held(compiled, symbol).await.map_err(unread) else {
                return;
            };
            held = after;
        }
        let held = held.quantity;
        let detail = (held.cmp(&Decimal::ZERO) != expected).then(|| {
            format!(
                "the strategy is {} in {}, the pipeline's book holds {held}",
                stated.market_position, intent.instrument.symbol
            )
        });
        self.alert_drift(&compiled.id, detail).await;
    }

    /// `resync` when the strategy is flat and the book still holds a long
    /// (an exit alert went missing): the pipeline's resting orders in the
    /// symbol are canceled and the long is sold, as the exit would have
    /// done, once per execution (the request id names it). A strategy that
    /// holds what the book does not is left as a drift: its sizes are in
    /// its own units, so the book is never opened from them.
    async fn close_as_the_strategy_did(
        &self,
        compiled: &Compiled,
        execution: &Execution,
        symbol: &str,
        held: Decimal,
        reference_price: Option<Decimal>,
    ) {
        let audit = || AuditEntry {
            detail: format!(
                "the strategy is flat in {symbol}: the book's {held} is sold (drift_policy resync)"
            ),
            ..pipeline_audit(compiled, "")
        };
        if let Err(err) = self
            .desk
            .cancel_resting(&compiled.id, symbol, &audit())
            .await
        {
            tracing::warn!(pipeline = %compiled.name, error = %err, "resting orders not canceled; the long is not closed");
            return;
        }
        let request = OrderRequest {
            request_id: format!("{}:alert-resync", execution.id),
            exchange: compiled.exchange.clone(),
            account: compiled.account.clone(),
            symbol: symbol.to_string(),
            side: Side::Sell,
            order_type: OrderType::Market,
            time_in_force: TimeInForce::Gtc,
            quantity: held,
            price: None,
            stop_price: None,
            reference_price,
            trailing_delta_bips: None,
            reduce_only: is_perpetual(symbol),
            attachment: None,
        };
        let origin = OrderOrigin {
            role: Some(OrderRole::Exit),
            ..origin_of(compiled, execution)
        };
        if let Err(err) = self.desk.place_for(request, origin, audit()).await {
            tracing::warn!(pipeline = %compiled.name, error = %err, "the long the strategy closed is not sold");
        }
    }

    /// The drifts in force from `source`, by pipeline id.
    fn drifts_of(&self, source: DriftSource) -> HashMap<String, String> {
        self.drifts
            .lock()
            .map(|drifts| {
                drifts
                    .iter()
                    .filter(|((_, s), _)| *s == source)
                    .map(|((id, _), detail)| (id.clone(), detail.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Replaces the drifts from `source` by `now`; meters and audits the
    /// ones that started and ended.
    async fn settle_drifts(&self, source: DriftSource, now: HashMap<String, String>) {
        let before = self.drifts_of(source);
        if let Ok(mut drifts) = self.drifts.lock() {
            drifts.retain(|(_, s), _| *s != source);
            for (id, detail) in &now {
                drifts.insert((id.clone(), source), detail.clone());
            }
        }
        let snapshot = self.snapshot();
        let name = |id: &str| snapshot.get(id).map(|c| c.name.clone()).unwrap_or_default();
        for (id, detail) in now.iter().filter(|(id, _)| !before.contains_key(*id)) {
            tracing::warn!(pipeline = %name(id), source = source.word(), detail, "position drift");
            self.metrics.drifted(&name(id), source.word());
            self.audit_drift(actions::POSITION_DRIFT, &name(id), source, detail)
                .await;
        }
        for (id, detail) in before.iter().filter(|(id, _)| !now.contains_key(*id)) {
            self.audit_drift(actions::POSITION_DRIFT_RESOLVED, &name(id), source, detail)
                .await;
        }
    }

    async fn audit_drift(
        &self,
        action: &'static str,
        pipeline: &str,
        source: DriftSource,
        detail: &str,
    ) {
        let outcome = if action == actions::POSITION_DRIFT {
            AuditOutcome::Failure
        } else {
            AuditOutcome::Success
        };
        self.audit
            .record_or_log(AuditEntry {
                action,
                target: pipeline.to_string(),
                outcome,
                detail: format!("{}: {detail}", source.word()),
                ..AuditEntry::system()
            })
            .await;
    }

    /// Why `compiled` may not open or add to a position now: a drift in
    /// force under the `refuse` policy.
    pub(super) fn refused_for_drift(&self, compiled: &Compiled) -> Option<String> {
        if compiled.drift != DriftPolicy::Refuse {
            return None;
        }
        let drifts = self.drifts.lock().ok()?;
        drifts
            .iter()
            .find(|((id, _), _)| *id == compiled.id)
            .map(|((_, source), detail)| format!("{} drift: {detail}", source.word()))
    }

    /// Whether the pipeline's book drifts from `source` (for the gauge).
    pub(super) fn drifting(&self, pipeline_id: &str, source: DriftSource) -> bool {
        self.drifts
            .lock()
            .map(|d| d.contains_key(&(pipeline_id.to_string(), source)))
            .unwrap_or(false)
    }
}

/// The base asset of a canonical symbol (`BTC/USDT` -> `BTC`, with or
/// without a venue prefix).
fn base_asset(symbol: &str) -> &str {
    let pair = symbol.rsplit(':').next().unwrap_or(symbol);
    pair.split('/').next().unwrap_or(pair)
}

/// Whether a venue drift is one a `resync` pipeline acts on: the same
/// figures found the round before too. A protective order that filled at
/// the venue just before a round is not yet in the book (the order sync
/// books it within seconds), so a drift seen once may be that fill on its
/// way; adopting the venue's figure then, and booking the fill after,
/// would count the fill twice.
pub(super) fn confirmed(
    compiled: &Compiled,
    before: &HashMap<String, String>,
    pipeline_id: &str,
    detail: &str,
) -> bool {
    compiled.drift == DriftPolicy::Resync && before.get(pipeline_id).is_some_and(|d| d == detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_base_asset_is_read_off_the_symbol() {
        assert_eq!(base_asset("BTC/USDT"), "BTC");
        assert_eq!(base_asset("BINANCE:ETH/USDT"), "ETH");
    }
}
