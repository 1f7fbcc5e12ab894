//! What is USDⓈ-M's own: order parameters (`reduceOnly`, or
//! `positionSide` in hedge mode; stops triggered at the mark price), the
//! position mode, leverage and margin type, the wallet, positions from
//! `positionRisk`, and brackets as two reduce-only orders (the market has
//! no order lists; the desk cancels the leg left once the other is done,
//! and Binance expires reduce-only orders once the position is flat).

use std::{collections::HashMap, sync::atomic::Ordering};

use http::Method;
use rust_decimal::Decimal;
use serde::{Deserialize, de::IgnoredAny};

use super::{
    BinanceExchange,
    mapping::{order_basics, order_error, read_error, venue_symbol},
    replies::ExchangeInfoReply,
    rest::Failure,
};
use crate::{
    market::{
        margin::{Leverage, MarginMode},
        side::Side,
    },
    model::order::OrderType,
    orders::exchanges::{Exchange, ExchangeError, ExchangeOrder, OrderTicket, PerpPosition},
};

/// "No need to change margin type."
const MARGIN_TYPE_UNCHANGED: i64 = -4046;
/// "No need to change position side."
const POSITION_MODE_UNCHANGED: i64 = -4059;

/// A ticket as the query parameters of `POST /fapi/v1/order`.
pub(super) fn futures_params(
    ticket: &OrderTicket,
    hedge: bool,
) -> Result<Vec<(&'static str, String)>, ExchangeError> {
    if ticket.trailing_delta_bips.is_some() {
        return Err(ExchangeError::Rejected(
            "binance_usdm trails no stop natively; the keeper trails it".into(),
        ));
    }
    let kind = match ticket.order_type {
        OrderType::Market => "MARKET",
        OrderType::Limit => "LIMIT",
        OrderType::Stop => "STOP_MARKET",
        OrderType::StopLimit => "STOP",
    };
    let mut params = order_basics(ticket, kind);
    if ticket.stop_price.is_some() {
        params.push(("workingType", "MARK_PRICE".into()));
    }
    if hedge {
        // In hedge mode the side of the position says what reduces it.
        let long = (ticket.side == Side::Buy) != ticket.reduce_only;
        params.push(("positionSide", if long { "LONG" } else { "SHORT" }.into()));
    } else if ticket.reduce_only {
        params.push(("reduceOnly", "true".into()));
    }
    Ok(params)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BalanceReply {
    asset: String,
    balance: Decimal,
    available_balance: Decimal,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PositionReply {
    symbol: String,
    position_amt: Decimal,
    entry_price: Decimal,
    mark_price: Decimal,
    un_realized_profit: Decimal,
    leverage: String,
    margin_type: String,
    #[serde(default)]
    isolated_margin: Decimal,
    #[serde(default)]
    liquidation_price: Decimal,
}

impl BinanceExchange {
    /// Sets the account's position mode (one-way, or hedge) once per
    /// process, before the first order or leverage change.
    pub(super) async fn ensure_position_mode(&self) -> Result<(), ExchangeError> {
        if self.position_mode_set.load(Ordering::Relaxed) {
            return Ok(());
        }
        let (_, result) = self
            .rest
            .signed::<IgnoredAny>(
                Method::POST,
                "/fapi/v1/positionSide/dual",
                &[("dualSidePosition", self.hedge_mode.to_string())],
            )
            .await;
        match result {
            Ok(_) => {}
            Err(Failure::Refused {
                code: POSITION_MODE_UNCHANGED,
                ..
            }) => {}
            Err(failure) => return Err(read_error(failure)),
        }
        self.position_mode_set.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// Sets `symbol`'s margin type, then its leverage.
    pub(super) async fn set_futures_leverage(
        &self,
        symbol: &str,
        leverage: Leverage,
    ) -> Result<(), ExchangeError> {
        self.ensure_position_mode().await?;
        let venue = venue_symbol(symbol);
        let margin_type = match leverage.mode {
            MarginMode::Isolated => "ISOLATED",
            MarginMode::Cross => "CROSSED",
        };
        let (_, result) = self
            .rest
            .signed::<IgnoredAny>(
                Method::POST,
                "/fapi/v1/marginType",
                &[
                    ("symbol", venue.clone()),
                    ("marginType", margin_type.into()),
                ],
            )
            .await;
        match result {
            Ok(_) => {}
            Err(Failure::Refused {
                code: MARGIN_TYPE_UNCHANGED,
                ..
            }) => {}
            Err(failure) => return Err(order_error(failure, symbol)),
        }
        let (_, result) = self
            .rest
            .signed::<IgnoredAny>(
                Method::POST,
                "/fapi/v1/leverage",
                &[
                    ("symbol", venue),
                    ("leverage", leverage.leverage.to_string()),
                ],
            )
            .await;
        result.map(|_| ()).map_err(|f| order_error(f, symbol))
    }

    /// Places a bracket's legs as two reduce-only orders, the stop first.
    /// If the take-profit cannot be placed, the stop is canceled, so that
    /// no half bracket stays.
    pub(super) async fn place_legs(
        &self,
        stop: &OrderTicket,
        target: &OrderTicket,
    ) -> Result<[ExchangeOrder; 2], ExchangeError> {
        let stop_leg = self.place(stop).await?;
        match self.place(target).await {
            Ok(target_leg) => Ok([stop_leg, target_leg]),
            Err(err) => {
                if let Err(cancel) = self.cancel(&stop.client_order_id, &stop.symbol).await {
                    tracing::warn!(error = %cancel, client_order_id = %stop.client_order_id,
                        "the stop of a half-placed bracket is left for the sync to settle");
                }
                Err(err)
            }
        }
    }

    /// The USDⓈ-M wallet per asset: what is available, and the rest
    /// (margin held by positions and orders) as locked.
    pub(super) async fn futures_balances(
        &self,
    ) -> Result<Vec<(String, Decimal, Decimal)>, ExchangeError> {
        let (_, result) = self
            .rest
            .signed::<Vec<BalanceReply>>(Method::GET, "/fapi/v2/balance", &[])
            .await;
        Ok(result
            .map_err(read_error)?
            .into_iter()
            .filter(|b| !b.balance.is_zero())
            .map(|b| {
                let locked = b.balance - b.available_balance;
                (b.asset, b.available_balance, locked)
            })
            .collect())
    }

    /// The account's open positions, from `positionRisk`, named by their
    /// canonical perpetual symbols.
    pub(super) async fn futures_positions(&self) -> Result<Vec<PerpPosition>, ExchangeError> {
        let info: ExchangeInfoReply = self
            .rest
            .public(self.market.paths().exchange_info, &[])
            .await
            .map_err(read_error)?;
        let canonical: HashMap<String, String> = info
            .symbols
            .into_iter()
            .map(|s| {
                let name = format!("{}/{}:PERP", s.base_asset, s.quote_asset);
                (s.symbol, name)
            })
            .collect();
        let (_, result) = self
            .rest
            .signed::<Vec<PositionReply>>(Method::GET, "/fapi/v2/positionRisk", &[])
            .await;
        result
            .map_err(read_error)?
            .into_iter()
            .filter(|p| !p.position_amt.is_zero())
            .map(|p| position(p, &canonical))
            .collect()
    }
}

/// One `positionRisk` row as a position.
fn position(
    reply: PositionReply,
    canonical: &HashMap<String, String>,
) -> Result<PerpPosition, ExchangeError> {
    let unfamiliar = |what: &str| {
        ExchangeError::Unavailable(format!(
            "Binance reported a position in {} with an unfamiliar {what}",
            reply.symbol
        ))
    };
    let symbol = canonical
        .get(&reply.symbol)
        .cloned()
        .ok_or_else(|| unfamiliar("symbol"))?;
    let mode = match reply.margin_type.to_ascii_lowercase().as_str() {
        "isolated" => MarginMode::Isolated,
        "cross" | "crossed" => MarginMode::Cross,
        _ => return Err(unfamiliar("margin type")),
    };
    let leverage: u32 = reply.leverage.parse().map_err(|_| unfamiliar("leverage"))?;
    let margin = match mode {
        MarginMode::Isolated => reply.isolated_margin,
        MarginMode::Cross => {
            reply.position_amt.abs() * reply.mark_price / Decimal::from(leverage.max(1))
        }
    };
    Ok(PerpPosition {
        symbol,
        quantity: reply.position_amt,
        entry_price: reply.entry_price,
        mark_price: Some(reply.mark_price),
        unrealized: reply.un_realized_profit,
        realized: Decimal::ZERO,
        leverage: Leverage { leverage, mode },
        margin,
        liquidation_price: Some(reply.liquidation_price).filter(|p| !p.is_zero()),
    })
}
