//! An order request checked and read as a ticket: the symbol through the
//! configured normalizer (a bare ticker is a stock at a stock broker), every amount positive, the prices each order
//! type needs, a trailing delta only on a stop, reduce-only only on a
//! perpetual.

use rust_decimal::Decimal;

use super::OrderDesk;
use crate::{
    market::instrument::InstrumentKind,
    model::order::{OrderRequest, OrderTicket, OrderType},
    orders::error::{InvalidReason, PlaceError},
};

impl OrderDesk {
    /// Checks a request for a venue trading `kinds` and reads it as a
    /// ticket; the client order id is filled in later.
    pub(super) fn ticket(
        &self,
        request: &OrderRequest,
        kinds: &[InstrumentKind],
    ) -> Result<OrderTicket, PlaceError> {
        let instrument = self
            .normalizer
            .normalize_for_venue(&request.symbol, kinds)
            .map_err(|e| PlaceError::invalid(InvalidReason::BadSymbol, "symbol", e))?;
        if instrument.quote.is_empty() {
            return Err(PlaceError::invalid(
                InvalidReason::BadSymbol,
                "symbol",
                "spot orders need a quote asset, e.g. BTC/USDT",
            ));
        }
        // Futures with an expiry trade nowhere here; which venue trades
        // spot or perpetuals is checked against the exchange.
        if instrument.kind == InstrumentKind::Future {
            return Err(PlaceError::invalid(
                InvalidReason::UnsupportedInstrument,
                "symbol",
                format!(
                    "`{}` is a {} instrument; the configured exchanges trade spot, perpetuals and equities",
                    request.symbol, instrument.kind
                ),
            ));
        }
        if request.reduce_only && instrument.kind != InstrumentKind::Perpetual {
            return Err(PlaceError::invalid(
                InvalidReason::UnsupportedInstrument,
                "reduce_only",
                format!(
                    "only perpetual orders reduce a position; `{}` is {}",
                    request.symbol, instrument.kind
                ),
            ));
        }
        let positive = |value: Option<Decimal>, field: &'static str| match value {
            Some(value) if value <= Decimal::ZERO => Err(PlaceError::invalid(
                InvalidReason::NotPositive,
                field,
                "must be greater than zero",
            )),
            _ => Ok(value),
        };
        positive(Some(request.quantity), "quantity")?;
        positive(request.price, "price")?;
        positive(request.stop_price, "stop_price")?;
        positive(request.reference_price, "reference_price")?;
        let order_type = request.order_type;
        if matches!(order_type, OrderType::Limit | OrderType::StopLimit) && request.price.is_none()
        {
            return Err(PlaceError::invalid(
                InvalidReason::MissingPrice,
                "price",
                "limit orders need a limit price",
            ));
        }
        let stop = matches!(order_type, OrderType::Stop | OrderType::StopLimit);
        if request.trailing_delta_bips.is_some() && !stop {
            return Err(PlaceError::invalid(
                InvalidReason::UnsupportedTrailingDelta,
                "trailing_delta_bips",
                "only stop and stop-limit orders trail",
            ));
        }
        // A trailing stop triggers from its delta: a stop price is optional.
        if stop && request.stop_price.is_none() && request.trailing_delta_bips.is_none() {
            return Err(PlaceError::invalid(
                InvalidReason::MissingStopPrice,
                "stop_price",
                "stop orders need a trigger price",
            ));
        }
        Ok(OrderTicket {
            client_order_id: String::new(),
            symbol: instrument.symbol,
            base: instrument.base,
            quote: instrument.quote,
            side: request.side,
            order_type,
            time_in_force: request.time_in_force,
            quantity: request.quantity,
            price: request.price,
            stop_price: request.stop_price,
            reference_price: request.reference_price,
            oco_group: None,
            trailing_delta_bips: request.trailing_delta_bips,
            kind: instrument.kind,
            reduce_only: request.reduce_only,
            attachment: request.attachment.clone(),
        })
    }
}
