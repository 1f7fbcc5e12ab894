//! Exits on the position (linear perpetuals): an entry carries its exits
//! as `takeProfit` / `stopLoss` in `tpslMode` Full, and Bybit sets them
//! on the position when the entry fills. The two legs the desk tracks are
//! that TP/SL: working while `/v5/position/list` shows them on the
//! position; once one triggers, Bybit closes the position with a market
//! order whose `stopOrderType` names it (in `/v5/order/history`) and the
//! other is gone with the position. Nothing here ever places an order:
//! the legs are found through the position and canceled by clearing its
//! TP/SL (`/v5/position/trading-stop`), which cancels both.

use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::{
    BybitExchange,
    mapping::{market_params, order_error, position_idx, read_error, venue_symbol},
    replies::{Listed, OrderReply, PositionReply},
    rest::Failure,
};
use crate::{
    market::side::Side,
    model::order::{OrderStatus, OrderType},
    orders::exchanges::{ExchangeError, ExchangeOrder, OrderTicket},
};

/// Which of the position's exits a leg is, and its price.
struct Leg<'a> {
    ticket: &'a OrderTicket,
    /// The entry the exits were attached to.
    entry: &'a str,
    /// Bybit's `stopOrderType` of the close it places on a trigger.
    stop_order_type: &'static str,
    price: Decimal,
    /// The position it closes (see [`position_idx`]).
    idx: i64,
}

impl<'a> Leg<'a> {
    /// The leg `ticket` attached to the entry `entry`: its stop is the
    /// position's stop-loss, its limit the take-profit.
    fn of(ticket: &'a OrderTicket, entry: &'a str, hedge: bool) -> Result<Self, ExchangeError> {
        let (stop_order_type, price) = match ticket.order_type {
            OrderType::Stop => ("StopLoss", ticket.stop_price),
            OrderType::Limit => ("TakeProfit", ticket.price),
            other => {
                return Err(ExchangeError::Rejected(format!(
                    "unsupported_order: a {other:?} order is no exit Bybit sets on a position"
                )));
            }
        };
        let price = price.ok_or_else(|| {
            ExchangeError::Rejected(format!(
                "the {stop_order_type} leg of entry {entry} carries no price"
            ))
        })?;
        // An exit only ever reduces its position.
        let closing = OrderTicket {
            reduce_only: true,
            ..ticket.clone()
        };
        Ok(Self {
            ticket,
            entry,
            stop_order_type,
            price,
            idx: i64::from(position_idx(&closing, hedge)),
        })
    }

    /// Whether `position` holds this leg: the position the leg closes,
    /// open, with the leg's price as its TP or SL.
    fn held_by(&self, position: &PositionReply) -> bool {
        let held_side = if self.ticket.side == Side::Sell {
            "Buy"
        } else {
            "Sell"
        };
        let level = match self.stop_order_type {
            "StopLoss" => position.stop_loss,
            _ => position.take_profit,
        };
        position.position_idx == self.idx
            && !position.size.is_zero()
            && position.side == held_side
            && level == Some(self.price)
    }

    /// The leg while the position holds it.
    fn working(&self) -> ExchangeOrder {
        self.view(OrderStatus::Submitted, "")
    }

    /// The leg once the position holds it no more and it never triggered.
    fn gone(&self) -> ExchangeOrder {
        self.view(
            OrderStatus::Canceled,
            "the position's TP/SL was cleared or the position closed at Bybit",
        )
    }

    fn view(&self, status: OrderStatus, reason: &str) -> ExchangeOrder {
        ExchangeOrder {
            exchange_order_id: format!(
                "{}:{}:{}",
                venue_symbol(&self.ticket.symbol),
                self.idx,
                self.stop_order_type
            ),
            status,
            fills: Vec::new(),
            reason: reason.to_string(),
        }
    }
}

impl BybitExchange {
    /// The legs Bybit set on the position of the entry `entry` (see the
    /// module): working, or already triggered. A position that shows
    /// neither is unprotected: refused, naming why.
    pub(super) async fn adopt_exits(
        &self,
        entry: &str,
        stop: &OrderTicket,
        target: &OrderTicket,
    ) -> Result<[ExchangeOrder; 2], ExchangeError> {
        let stop = Leg::of(stop, entry, self.hedge_mode)?;
        let target = Leg::of(target, entry, self.hedge_mode)?;
        let positions = self.positions_in(stop.ticket).await?;
        if positions
            .iter()
            .any(|p| stop.held_by(p) && target.held_by(p))
        {
            return Ok([stop.working(), target.working()]);
        }
        // Not on the position (any more): one of them may have triggered.
        let stop_closed = self.triggered(&stop).await?;
        let target_closed = self.triggered(&target).await?;
        if stop_closed.is_none() && target_closed.is_none() {
            return Err(ExchangeError::Rejected(format!(
                "unprotected: the {} position of entry {entry} holds no TP {} / SL {} at Bybit",
                stop.ticket.symbol, target.price, stop.price
            )));
        }
        Ok([
            stop_closed.unwrap_or_else(|| stop.gone()),
            target_closed.unwrap_or_else(|| target.gone()),
        ])
    }

    /// An attached leg as Bybit shows it now: working while the position
    /// holds it, else the close it triggered, else canceled.
    pub(super) async fn fetch_exit(
        &self,
        entry: &str,
        ticket: &OrderTicket,
    ) -> Result<ExchangeOrder, ExchangeError> {
        let leg = Leg::of(ticket, entry, self.hedge_mode)?;
        self.exit_state(&leg).await
    }

    /// Cancels an attached leg by clearing the position's TP and SL
    /// (both legs go); once cleared, or with no position, the leg is
    /// canceled unless it triggered first. A refusal counts only while
    /// the position still holds the leg.
    pub(super) async fn cancel_exit(
        &self,
        entry: &str,
        ticket: &OrderTicket,
    ) -> Result<ExchangeOrder, ExchangeError> {
        let leg = Leg::of(ticket, entry, self.hedge_mode)?;
        let body = json!({
            "category": "linear",
            "symbol": venue_symbol(&ticket.symbol),
            "tpslMode": "Full",
            "positionIdx": leg.idx,
            "takeProfit": "0",
            "stopLoss": "0",
        });
        let (_, result) = self
            .rest
            .post::<Value>("/v5/position/trading-stop", &body)
            .await;
        let refused = match result {
            Ok(_) => None,
            // Not modified, or no position: the lookup tells which.
            Err(refusal @ Failure::Refused { .. }) => Some(refusal),
            Err(failure) => return Err(order_error(failure, &ticket.symbol)),
        };
        let view = self.exit_state(&leg).await?;
        match refused {
            Some(refusal) if view.status == OrderStatus::Submitted => {
                Err(order_error(refusal, &ticket.symbol))
            }
            _ => Ok(view),
        }
    }

    async fn exit_state(&self, leg: &Leg<'_>) -> Result<ExchangeOrder, ExchangeError> {
        let positions = self.positions_in(leg.ticket).await?;
        if positions.iter().any(|p| leg.held_by(p)) {
            return Ok(leg.working());
        }
        Ok(self.triggered(leg).await?.unwrap_or_else(|| leg.gone()))
    }

    /// The positions in the leg's symbol.
    async fn positions_in(
        &self,
        ticket: &OrderTicket,
    ) -> Result<Vec<PositionReply>, ExchangeError> {
        let (_, result) = self
            .rest
            .get::<Listed<PositionReply>>("/v5/position/list", &market_params(&ticket.symbol))
            .await;
        Ok(result.map_err(read_error)?.list)
    }

    /// The close Bybit placed when the leg triggered: the first order in
    /// the symbol's history since the entry filled (`startTime`) with the
    /// leg's `stopOrderType`, side and position, with its fills; `None`
    /// if none.
    async fn triggered(&self, leg: &Leg<'_>) -> Result<Option<ExchangeOrder>, ExchangeError> {
        let symbol = &leg.ticket.symbol;
        let entry = self.lookup(leg.entry, symbol).await.map_err(read_error)?;
        // The exits exist only once the entry filled.
        let Some(filled_at) = entry.and_then(|e| e.fills.iter().map(|f| f.time_ms).min()) else {
            return Ok(None);
        };
        let mut params = market_params(symbol);
        params.push(("startTime", filled_at.to_string()));
        params.push(("limit", "50".to_string()));
        let (_, result) = self
            .rest
            .get::<Listed<OrderReply>>("/v5/order/history", &params)
            .await;
        let side = if leg.ticket.side == Side::Sell {
            "Sell"
        } else {
            "Buy"
        };
        // Newest first: from the end, the first match is the first trigger.
        let Some(close) = result
            .map_err(read_error)?
            .list
            .into_iter()
            .rev()
            .find(|o| {
                o.stop_order_type == leg.stop_order_type
                    && o.side == side
                    && o.position_idx == leg.idx
                    && o.created_time >= filled_at
            })
        else {
            return Ok(None);
        };
        self.with_fills(close, symbol)
            .await
            .map(Some)
            .map_err(read_error)
    }
}
