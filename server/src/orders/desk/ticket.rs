//! Order requests as tickets: the checks of a `PlaceOrderRequest`, the
//! new order it becomes, and the ticket a stored order was sent as.

use rust_decimal::Decimal;
use tradeplane_api::{
    Order, OrderStatus, OrderType, PlaceOrderRequest, ProtoEnum, Side, TimeInForce, UnknownEnum,
};

use super::{OrderDesk, lifecycle::transition};
use crate::{
    market::decimal::parse_decimal,
    orders::{
        error::{InvalidReason, PlaceError},
        exchanges::OrderTicket,
    },
    proto_time::ms_to_timestamp,
};

impl OrderDesk {
    /// Checks a request and reads it as a ticket (symbol through the
    /// configured normalizer); the client order id is filled in later.
    pub(super) fn ticket(&self, request: &PlaceOrderRequest) -> Result<OrderTicket, PlaceError> {
        let instrument = self
            .normalizer
            .normalize(&request.symbol, "")
            .map_err(|e| PlaceError::invalid(InvalidReason::BadSymbol, "symbol", e))?;
        if instrument.quote.is_empty() {
            return Err(PlaceError::invalid(
                InvalidReason::BadSymbol,
                "symbol",
                "spot orders need a quote asset, e.g. BTC/USDT",
            ));
        }
        let side = match Side::try_from(request.side) {
            Ok(side @ (Side::Buy | Side::Sell)) => side,
            _ => {
                return Err(PlaceError::invalid(
                    InvalidReason::InvalidSide,
                    "side",
                    "choose SIDE_BUY or SIDE_SELL",
                ));
            }
        };
        let order_type = match OrderType::try_from(request.r#type) {
            Ok(OrderType::Unspecified) | Err(_) => {
                return Err(PlaceError::invalid(
                    InvalidReason::InvalidType,
                    "type",
                    "choose MARKET, LIMIT, STOP or STOP_LIMIT",
                ));
            }
            Ok(t) => t,
        };
        // Unset means good-till-canceled; a number no value has is an error.
        let time_in_force = match TimeInForce::try_from(request.time_in_force) {
            Ok(TimeInForce::Unspecified) => TimeInForce::Gtc,
            Ok(t) => t,
            Err(_) => {
                return Err(PlaceError::invalid(
                    InvalidReason::InvalidTimeInForce,
                    "time_in_force",
                    "choose GTC, IOC or FOK, or leave it unset for GTC",
                ));
            }
        };
        let positive = |text: &str, field: &'static str| -> Result<Option<Decimal>, PlaceError> {
            if text.is_empty() {
                return Ok(None);
            }
            let value = parse_decimal(text)
                .map_err(|e| PlaceError::invalid(InvalidReason::InvalidDecimal, field, e))?;
            if value <= Decimal::ZERO {
                return Err(PlaceError::invalid(
                    InvalidReason::NotPositive,
                    field,
                    "must be greater than zero",
                ));
            }
            Ok(Some(value))
        };
        let quantity = positive(&request.quantity, "quantity")?.ok_or_else(|| {
            PlaceError::invalid(
                InvalidReason::MissingQuantity,
                "quantity",
                "give the quantity in the base asset",
            )
        })?;
        let price = positive(&request.price, "price")?;
        let stop_price = positive(&request.stop_price, "stop_price")?;
        let reference_price = positive(&request.reference_price, "reference_price")?;
        if matches!(order_type, OrderType::Limit | OrderType::StopLimit) && price.is_none() {
            return Err(PlaceError::invalid(
                InvalidReason::MissingPrice,
                "price",
                "limit orders need a limit price",
            ));
        }
        if matches!(order_type, OrderType::Stop | OrderType::StopLimit) && stop_price.is_none() {
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
            side,
            order_type,
            time_in_force,
            quantity,
            price,
            stop_price,
            reference_price,
        })
    }
}

fn decimal_text(value: Option<Decimal>) -> String {
    value.map(|v| v.normalize().to_string()).unwrap_or_default()
}

pub(super) fn new_order(
    ticket: &OrderTicket,
    exchange: &str,
    request: &PlaceOrderRequest,
    now: i64,
) -> Order {
    let instrument = tradeplane_api::Instrument {
        base: ticket.base.clone(),
        quote: ticket.quote.clone(),
        symbol: ticket.symbol.clone(),
        kind: tradeplane_api::InstrumentKind::Spot as i32,
        ..Default::default()
    };
    let mut order = Order {
        id: uuid::Uuid::now_v7().to_string(),
        client_order_id: ticket.client_order_id.clone(),
        exchange: exchange.to_string(),
        instrument: Some(instrument),
        side: ticket.side as i32,
        r#type: ticket.order_type as i32,
        time_in_force: ticket.time_in_force as i32,
        quantity: ticket.quantity.normalize().to_string(),
        price: decimal_text(ticket.price),
        stop_price: decimal_text(ticket.stop_price),
        reference_price: if request.reference_price.is_empty() {
            String::new()
        } else {
            decimal_text(ticket.reference_price)
        },
        filled_quantity: "0".into(),
        create_time: Some(ms_to_timestamp(now)),
        ..Default::default()
    };
    transition(&mut order, OrderStatus::New, "", now);
    order
}

/// The ticket a stored order was sent as; an enum number no value has is
/// an error, not a guess.
pub(super) fn ticket_of(order: &Order) -> Result<OrderTicket, UnknownEnum> {
    let decimal = |text: &str| parse_decimal(text).ok();
    let instrument = order.instrument.clone().unwrap_or_default();
    Ok(OrderTicket {
        client_order_id: order.client_order_id.clone(),
        symbol: instrument.symbol,
        base: instrument.base,
        quote: instrument.quote,
        side: Side::known(order.side, "side")?,
        order_type: OrderType::known(order.r#type, "type")?,
        time_in_force: TimeInForce::known(order.time_in_force, "time_in_force")?,
        quantity: decimal(&order.quantity).unwrap_or_default(),
        price: decimal(&order.price),
        stop_price: decimal(&order.stop_price),
        reference_price: decimal(&order.reference_price),
    })
}
