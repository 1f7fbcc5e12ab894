//! OKX's JSON answers (numbers arrive as strings, empty when unset) and
//! how they become tradeplane's views.

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, de::Error};

use super::mapping::Instrument;
use crate::{
    market::margin::{Leverage, MarginMode},
    model::order::OrderStatus,
    orders::exchanges::{ExchangeOrder, Fill, PerpPosition},
};

/// A decimal sent as a string that may be empty.
fn optional<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Decimal>, D::Error> {
    let text = String::deserialize(deserializer)?;
    if text.is_empty() {
        return Ok(None);
    }
    text.parse()
        .map(Some)
        .map_err(|e| D::Error::custom(format!("`{text}` is not a decimal: {e}")))
}

/// One order of `GET /api/v5/trade/order`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct OrderReply {
    pub(super) ord_id: String,
    pub(super) state: String,
    #[serde(deserialize_with = "optional", default)]
    pub(super) acc_fill_sz: Option<Decimal>,
}

impl OrderReply {
    /// The order's status; an unfamiliar state is an error, not a guess.
    pub(super) fn status(&self) -> Result<OrderStatus, String> {
        match self.state.as_str() {
            "live" => Ok(OrderStatus::Submitted),
            "partially_filled" => Ok(OrderStatus::PartiallyFilled),
            "filled" => Ok(OrderStatus::Filled),
            "canceled" | "mmp_canceled" => Ok(OrderStatus::Canceled),
            other => Err(format!("OKX reported the unfamiliar order state `{other}`")),
        }
    }

    /// Whether anything of it has been filled.
    pub(super) fn has_fills(&self) -> bool {
        self.acc_fill_sz
            .is_some_and(|filled| filled > Decimal::ZERO)
    }

    /// The view, with the fills read separately.
    pub(super) fn view(&self, fills: Vec<Fill>) -> Result<ExchangeOrder, String> {
        let status = self.status()?;
        let reason = if self.state == "mmp_canceled" {
            "canceled by OKX's market maker protection"
        } else {
            ""
        };
        Ok(ExchangeOrder {
            exchange_order_id: self.ord_id.clone(),
            status,
            fills,
            reason: reason.to_string(),
        })
    }
}

/// One fill of `GET /api/v5/trade/fills`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct FillReply {
    trade_id: String,
    fill_px: Decimal,
    fill_sz: Decimal,
    /// Negative when charged, positive for a rebate.
    fee: Decimal,
    fee_ccy: String,
    ts: String,
}

impl FillReply {
    /// The fill, its size in base units.
    pub(super) fn fill(self, instrument: &Instrument) -> Result<Fill, String> {
        Ok(Fill {
            trade_id: self.trade_id,
            quantity: instrument.base_quantity(self.fill_sz),
            price: self.fill_px,
            fee: -self.fee,
            fee_asset: self.fee_ccy,
            time_ms: self
                .ts
                .parse()
                .map_err(|_| format!("fill time `{}` is not a number", self.ts))?,
        })
    }
}

/// `GET /api/v5/account/balance`.
#[derive(Deserialize)]
pub(super) struct BalanceReply {
    pub(super) details: Vec<BalanceDetail>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct BalanceDetail {
    pub(super) ccy: String,
    pub(super) avail_bal: Decimal,
    pub(super) frozen_bal: Decimal,
}

/// One instrument of `GET /api/v5/public/instruments`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct InstrumentReply {
    pub(super) inst_id: String,
    pub(super) state: String,
    pub(super) tick_sz: Decimal,
    pub(super) lot_sz: Decimal,
    pub(super) min_sz: Decimal,
    #[serde(deserialize_with = "optional", default)]
    pub(super) ct_val: Option<Decimal>,
}

/// `GET /api/v5/market/ticker`.
#[derive(Deserialize)]
pub(super) struct TickerReply {
    pub(super) last: Decimal,
}

/// `GET /api/v5/account/config`: the account's position mode.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct AccountConfigReply {
    /// `net_mode` or `long_short_mode`.
    pub(super) pos_mode: String,
}

/// One position of `GET /api/v5/account/positions`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PositionReply {
    pub(super) inst_id: String,
    /// Contracts; signed in net mode.
    pos: Decimal,
    /// `net`, `long` or `short`.
    pos_side: String,
    mgn_mode: String,
    #[serde(deserialize_with = "optional", default)]
    avg_px: Option<Decimal>,
    #[serde(deserialize_with = "optional", default)]
    mark_px: Option<Decimal>,
    #[serde(deserialize_with = "optional", default)]
    upl: Option<Decimal>,
    #[serde(deserialize_with = "optional", default)]
    realized_pnl: Option<Decimal>,
    lever: String,
    #[serde(deserialize_with = "optional", default)]
    imr: Option<Decimal>,
    #[serde(deserialize_with = "optional", default)]
    margin: Option<Decimal>,
    #[serde(deserialize_with = "optional", default)]
    liq_px: Option<Decimal>,
}

impl PositionReply {
    /// The position under `symbol`, sized in base units.
    pub(super) fn view(
        self,
        symbol: &str,
        instrument: &Instrument,
    ) -> Result<PerpPosition, String> {
        let contracts = match self.pos_side.as_str() {
            "net" | "long" => self.pos,
            "short" => -self.pos.abs(),
            other => return Err(format!("OKX reported the unfamiliar posSide `{other}`")),
        };
        let mode = MarginMode::from_word(&self.mgn_mode)
            .ok_or_else(|| format!("OKX reported the unfamiliar mgnMode `{}`", self.mgn_mode))?;
        let leverage = self
            .lever
            .parse::<u32>()
            .map_err(|_| format!("OKX reported the leverage `{}`", self.lever))?;
        Ok(PerpPosition {
            symbol: symbol.to_string(),
            quantity: instrument.base_quantity(contracts),
            entry_price: self.avg_px.unwrap_or_default(),
            mark_price: self.mark_px,
            unrealized: self.upl.unwrap_or_default(),
            realized: self.realized_pnl.unwrap_or_default(),
            leverage: Leverage { leverage, mode },
            margin: self.margin.or(self.imr).unwrap_or_default(),
            liquidation_price: self.liq_px,
        })
    }
}
