//! Perpetuals (category `linear`): position mode, margin mode and
//! leverage, open positions, and bracket legs.

use rust_decimal::{Decimal, prelude::ToPrimitive};
use serde_json::json;

use super::{
    BybitExchange,
    mapping::{category, read_error, venue_symbol},
    replies::{Listed, PositionReply},
};
use crate::{
    market::margin::{Leverage, MarginMode},
    orders::exchanges::{Exchange, ExchangeError, ExchangeOrder, OrderTicket, PerpPosition},
};

/// Bybit's "not modified" answers: position mode, margin mode, leverage.
const MODE_UNCHANGED: i64 = 110025;
const MARGIN_UNCHANGED: i64 = 110026;
const LEVERAGE_UNCHANGED: i64 = 110043;

impl BybitExchange {
    /// A bracket's two exit legs. Perpetuals: a reduce-only conditional
    /// stop and a reduce-only limit target, linked by the desk's OCO
    /// emulation (which cancels the sibling once one leg is done); if the
    /// target is refused, the stop is canceled. Spot: refused, because
    /// Bybit spot has no one-cancels-the-other order and two plain legs
    /// would each lock the same base asset.
    pub(super) async fn place_pair(
        &self,
        stop: &OrderTicket,
        target: &OrderTicket,
    ) -> Result<[ExchangeOrder; 2], ExchangeError> {
        if !stop.is_perpetual() {
            return Err(ExchangeError::Rejected(format!(
                "unsupported_oco: Bybit spot has no one-cancels-the-other order for {}; \
                 its two legs would each lock the same base asset",
                stop.symbol
            )));
        }
        let reduce = |t: &OrderTicket| OrderTicket {
            reduce_only: true,
            ..t.clone()
        };
        let stop_leg = self.place_order(&reduce(stop)).await?;
        match self.place_order(&reduce(target)).await {
            Ok(target_leg) => Ok([stop_leg, target_leg]),
            Err(err) => {
                if let Err(cancel) = self.cancel(&stop.client_order_id, &stop.symbol).await {
                    tracing::warn!(client_order_id = %stop.client_order_id, error = %cancel, "the stop of a refused bracket could not be canceled");
                }
                Err(err)
            }
        }
    }

    /// The position mode (one-way, or hedge as configured), then the
    /// margin mode with the leverage,
    /// then the leverage itself (a change of leverage alone does not go
    /// through `switch-isolated`).
    pub(super) async fn apply_leverage(
        &self,
        symbol: &str,
        leverage: Leverage,
    ) -> Result<(), ExchangeError> {
        if category(symbol) != "linear" {
            return Err(ExchangeError::Rejected(format!(
                "unsupported_instrument: `{symbol}` is spot on Bybit; it has no leverage"
            )));
        }
        let venue = venue_symbol(symbol);
        let times = leverage.leverage.to_string();
        // Bybit's modes: 0 one-way ("merged single"), 3 hedge ("both sides").
        let position_mode = if self.hedge_mode { 3 } else { 0 };
        let mode = json!({"category": "linear", "symbol": venue, "mode": position_mode});
        self.post_setting("/v5/position/switch-mode", &mode, MODE_UNCHANGED, symbol)
            .await?;
        let trade_mode = match leverage.mode {
            MarginMode::Cross => 0,
            MarginMode::Isolated => 1,
        };
        let margin = json!({
            "category": "linear", "symbol": venue, "tradeMode": trade_mode,
            "buyLeverage": times, "sellLeverage": times,
        });
        self.post_setting(
            "/v5/position/switch-isolated",
            &margin,
            MARGIN_UNCHANGED,
            symbol,
        )
        .await?;
        let set = json!({
            "category": "linear", "symbol": venue,
            "buyLeverage": times, "sellLeverage": times,
        });
        self.post_setting(
            "/v5/position/set-leverage",
            &set,
            LEVERAGE_UNCHANGED,
            symbol,
        )
        .await
    }

    /// Open USDT perpetual positions from `/v5/position/list`.
    pub(super) async fn open_positions(&self) -> Result<Vec<PerpPosition>, ExchangeError> {
        let params = [
            ("category", "linear".to_string()),
            ("settleCoin", "USDT".to_string()),
        ];
        let (_, result) = self
            .rest
            .get::<Listed<PositionReply>>("/v5/position/list", &params)
            .await;
        let mut positions = Vec::new();
        for p in result.map_err(read_error)?.list {
            let quantity = match p.side.as_str() {
                _ if p.size.is_zero() => continue,
                "Buy" => p.size,
                "Sell" => -p.size,
                other => {
                    return Err(ExchangeError::Unavailable(format!(
                        "Bybit reported a position side `{other}` for {}",
                        p.symbol
                    )));
                }
            };
            let mode = match p.trade_mode {
                0 => MarginMode::Cross,
                1 => MarginMode::Isolated,
                other => {
                    return Err(ExchangeError::Unavailable(format!(
                        "Bybit reported a trade mode {other} for {}",
                        p.symbol
                    )));
                }
            };
            let times = p
                .leverage
                .trunc()
                .to_u32()
                .filter(|l| *l >= 1)
                .ok_or_else(|| {
                    ExchangeError::Unavailable(format!(
                        "Bybit reported a leverage {} for {}",
                        p.leverage, p.symbol
                    ))
                })?;
            let base = p.symbol.strip_suffix("USDT").ok_or_else(|| {
                ExchangeError::Unavailable(format!(
                    "Bybit listed `{}` among USDT-settled positions",
                    p.symbol
                ))
            })?;
            positions.push(PerpPosition {
                symbol: format!("{base}/USDT:PERP"),
                quantity,
                entry_price: p.avg_price,
                mark_price: p.mark_price,
                unrealized: p.unrealised_pnl,
                realized: p.cum_realised_pnl,
                leverage: Leverage {
                    leverage: times,
                    mode,
                },
                margin: p.position_im,
                liquidation_price: p.liq_price.filter(|l| *l > Decimal::ZERO),
            });
        }
        Ok(positions)
    }
}
