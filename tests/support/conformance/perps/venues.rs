//! The perpetual venues the kit knows: paper, Binance USDⓈ-M, Bybit
//! (category `linear`) and OKX (`BTC-USDT-SWAP`), each read at the venue.

use rust_decimal::Decimal;
use tradeplane_api::*;
use tradeplane_client::Client;

use super::{AtVenue, PERP, PerpVenue, sent_price};
use crate::{
    conformance::Paper,
    dec, get_order,
    mock_binance_futures::MockBinanceFutures,
    mock_bybit::MockBybit,
    mock_okx::{CONTRACT_VALUE, MockOkx, venue_client_id},
};

/// The paper exchange is its own venue: its positions and orders are the
/// server's.
impl PerpVenue for Paper {
    async fn position_at_venue(&self, client: &Client) -> Decimal {
        paper_position(client)
            .await
            .map_or(Decimal::ZERO, |p| dec(&p.quantity))
    }

    async fn margin_at_venue(&self, client: &Client) -> Option<(u32, bool)> {
        paper_position(client)
            .await
            .map(|p| (p.leverage, p.margin_mode == MarginMode::Isolated as i32))
    }

    async fn at_venue(&self, client: &Client, order: &Order) -> Option<AtVenue> {
        let now = get_order(client, &order.id).await;
        let open = [
            OrderStatus::New,
            OrderStatus::Submitted,
            OrderStatus::PartiallyFilled,
        ]
        .map(|s| s as i32)
        .contains(&now.status);
        Some(AtVenue {
            reduce_only: now.reduce_only,
            open,
            price: sent_price(&now),
        })
    }
}

/// The paper exchange's open position in [`PERP`].
async fn paper_position(client: &Client) -> Option<Position> {
    client
        .orders()
        .get_positions(GetPositionsRequest {
            exchange: "paper".into(),
            ..Default::default()
        })
        .await
        .expect("GetPositions answers")
        .into_inner()
        .positions
        .into_iter()
        .find(|p| p.symbol == PERP)
}

impl PerpVenue for MockBinanceFutures {
    async fn position_at_venue(&self, _client: &Client) -> Decimal {
        self.position("BTCUSDT").amount
    }

    async fn margin_at_venue(&self, _client: &Client) -> Option<(u32, bool)> {
        Some(self.margin_settings("BTCUSDT"))
    }

    async fn at_venue(&self, _client: &Client, order: &Order) -> Option<AtVenue> {
        self.order(&order.client_order_id).map(|o| AtVenue {
            // A leg for the whole position goes as `closePosition`, which
            // Binance lets only reduce the position.
            reduce_only: o.reduce_only || o.close_position,
            open: matches!(o.status, "NEW" | "PARTIALLY_FILLED"),
            price: o.stop_price.or(o.price),
        })
    }
}

impl PerpVenue for MockBybit {
    async fn position_at_venue(&self, _client: &Client) -> Decimal {
        self.position("BTCUSDT").map_or(Decimal::ZERO, |p| p.size)
    }

    async fn margin_at_venue(&self, _client: &Client) -> Option<(u32, bool)> {
        self.leverage("BTCUSDT")
            .map(|(leverage, trade_mode)| (leverage, trade_mode == 1))
    }

    async fn at_venue(&self, _client: &Client, order: &Order) -> Option<AtVenue> {
        self.order(&order.client_order_id).map(|o| AtVenue {
            reduce_only: o.reduce_only,
            open: matches!(o.status, "New" | "PartiallyFilled" | "Untriggered"),
            price: o.trigger.or(o.price),
        })
    }
}

/// OKX's swap on the perpetual.
const SWAP: &str = "BTC-USDT-SWAP";

impl PerpVenue for MockOkx {
    async fn position_at_venue(&self, _client: &Client) -> Decimal {
        self.position(SWAP).contracts * CONTRACT_VALUE
    }

    async fn margin_at_venue(&self, _client: &Client) -> Option<(u32, bool)> {
        self.leverage(SWAP)
            .map(|(leverage, mode)| (leverage, mode == "isolated"))
    }

    /// A plain order by `clOrdId`, or a stop (a conditional algo order)
    /// by `algoClOrdId`.
    async fn at_venue(&self, _client: &Client, order: &Order) -> Option<AtVenue> {
        let id = venue_client_id(&order.client_order_id);
        let plain = self.order(id).map(|o| AtVenue {
            reduce_only: o.reduce_only,
            open: matches!(o.state, "live" | "partially_filled"),
            price: o.price,
        });
        plain.or_else(|| {
            self.algos()
                .into_iter()
                .rev()
                .find(|a| a.algo_cl_ord_id == id)
                .map(|a| AtVenue {
                    reduce_only: a.reduce_only,
                    open: a.state == "live",
                    price: Some(a.trigger),
                })
        })
    }
}
