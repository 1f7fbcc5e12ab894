//! What is USDⓈ-M's own: order parameters (`reduceOnly`, or
//! `positionSide` in hedge mode; stops triggered at the mark price,
//! trailing stops as `TRAILING_STOP_MARKET`), the position mode, leverage
//! and margin type, the wallet, and positions from `positionRisk` with
//! their realized profit from the income history. Brackets are in
//! `protective.rs`.

use std::{collections::HashMap, sync::atomic::Ordering};

use http::Method;
use rust_decimal::Decimal;
use serde::{Deserialize, de::IgnoredAny};

use super::{
    BinanceExchange,
    mapping::{decimal, order_basics, order_error, read_error, venue_symbol},
    replies::ExchangeInfoReply,
    rest::Failure,
};
use crate::{
    market::{
        margin::{Leverage, MarginMode},
        side::Side,
    },
    model::order::OrderType,
    orders::exchanges::{ExchangeError, OrderTicket, PerpPosition},
};

/// "No need to change margin type."
const MARGIN_TYPE_UNCHANGED: i64 = -4046;
/// "No need to change position side."
const POSITION_MODE_UNCHANGED: i64 = -4059;

/// A ticket as the query parameters of `POST /fapi/v1/order`. Stops
/// trigger at the mark price; a trailing stop is a `TRAILING_STOP_MARKET`
/// whose `callbackRate` is the ticket's delta in percent, and whose stop
/// price, if it has one, is its `activationPrice` (it trails from there).
pub(super) fn futures_params(
    ticket: &OrderTicket,
    hedge: bool,
) -> Result<Vec<(&'static str, String)>, ExchangeError> {
    let kind = match (ticket.order_type, ticket.trailing_delta_bips) {
        (OrderType::Stop, Some(_)) => "TRAILING_STOP_MARKET",
        (_, Some(_)) => {
            return Err(ExchangeError::Rejected(
                "binance_usdm trails stop orders only, not limits".into(),
            ));
        }
        (OrderType::Market, None) => "MARKET",
        (OrderType::Limit, None) => "LIMIT",
        (OrderType::Stop, None) => "STOP_MARKET",
        (OrderType::StopLimit, None) => "STOP",
    };
    let mut params = order_basics(ticket, kind);
    if let Some(bips) = ticket.trailing_delta_bips {
        for (name, _) in params.iter_mut().filter(|(name, _)| *name == "stopPrice") {
            *name = "activationPrice";
        }
        params.push(("callbackRate", decimal(Decimal::new(bips.into(), 2))));
    }
    if ticket.stop_price.is_some() || ticket.trailing_delta_bips.is_some() {
        params.push(("workingType", "MARK_PRICE".into()));
    }
    if hedge {
        params.push(("positionSide", position_side(ticket).into()));
    } else if ticket.reduce_only {
        params.push(("reduceOnly", "true".into()));
    }
    Ok(params)
}

/// The hedge-mode position a ticket trades: the side of the position
/// says what reduces it (`LONG` for a buy that opens or a sell that
/// reduces).
pub(super) fn position_side(ticket: &OrderTicket) -> &'static str {
    if (ticket.side == Side::Buy) != ticket.reduce_only {
        "LONG"
    } else {
        "SHORT"
    }
}

/// One row of `GET /fapi/v1/income`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct IncomeReply {
    symbol: String,
    income_type: String,
    income: Decimal,
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
    /// `BOTH` in one-way mode, `LONG` or `SHORT` in hedge mode.
    position_side: String,
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
        let mut realized = self.realized_by_symbol().await?;
        result
            .map_err(read_error)?
            .into_iter()
            .filter(|p| !p.position_amt.is_zero())
            .map(|p| {
                // In hedge mode the symbol's profit goes to its first side.
                let realized = realized.remove(&p.symbol).unwrap_or_default();
                position(p, realized, &canonical)
            })
            .collect()
    }

    /// How much the ticket's position holds at Binance (its side's in
    /// hedge mode), unsigned, from `positionRisk`.
    pub(super) async fn position_held(
        &self,
        ticket: &OrderTicket,
    ) -> Result<Decimal, ExchangeError> {
        let venue = venue_symbol(&ticket.symbol);
        let side = if self.hedge_mode {
            position_side(ticket)
        } else {
            "BOTH"
        };
        let (_, result) = self
            .rest
            .signed::<Vec<PositionReply>>(
                Method::GET,
                "/fapi/v2/positionRisk",
                &[("symbol", venue.clone())],
            )
            .await;
        Ok(result
            .map_err(read_error)?
            .into_iter()
            .filter(|p| p.symbol == venue && p.position_side == side)
            .map(|p| p.position_amt.abs())
            .sum())
    }

    /// The profit realized per venue symbol, fees apart, from Binance's
    /// income history (`positionRisk` has none): one request for every
    /// symbol, where the fills' `realizedPnl` would take one per symbol
    /// and fill. Binance answers for the last 7 days, up to 1,000 rows.
    async fn realized_by_symbol(&self) -> Result<HashMap<String, Decimal>, ExchangeError> {
        let (_, result) = self
            .rest
            .signed::<Vec<IncomeReply>>(
                Method::GET,
                "/fapi/v1/income",
                &[
                    ("incomeType", "REALIZED_PNL".into()),
                    ("limit", "1000".into()),
                ],
            )
            .await;
        let mut realized: HashMap<String, Decimal> = HashMap::new();
        for row in result.map_err(read_error)? {
            if row.income_type != "REALIZED_PNL" {
                return Err(ExchangeError::Unavailable(format!(
                    "Binance answered a request for realized profit with {} income",
                    row.income_type
                )));
            }
            *realized.entry(row.symbol).or_default() += row.income;
        }
        Ok(realized)
    }
}

/// One `positionRisk` row as a position.
fn position(
    reply: PositionReply,
    realized: Decimal,
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
        realized,
        leverage: Leverage { leverage, mode },
        margin,
        liquidation_price: Some(reply.liquidation_price).filter(|p| !p.is_zero()),
    })
}
