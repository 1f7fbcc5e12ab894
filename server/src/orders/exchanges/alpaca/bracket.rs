//! Alpaca's bracket orders: an entry that carries its take-profit and
//! stop-loss (`order_class: "bracket"`). Alpaca creates both legs with
//! the entry, holds them until it fills, then cancels either when the
//! other executes. tradeplane never sends the legs: it adopts them, and
//! reads and cancels them through the entry's nested lookup
//! (`GET /v2/orders/{id}?nested=true`), where the take-profit is the
//! `limit` leg and the stop-loss the `stop` leg.

use serde_json::{Value, json};

use super::{
    AlpacaExchange,
    mapping::{NOT_FOUND, decimal, order_body, read_error},
    replies::OrderReply,
    rest::{Api, Failure},
};
use crate::{
    model::order::{AttachedExits, OrderType},
    orders::exchanges::{ExchangeError, ExchangeOrder, OrderTicket},
};

/// An entry and its exits as one bracket order: whole shares only, and
/// a `day` or `gtc` order, as Alpaca requires.
pub(super) fn bracket_body(
    ticket: &OrderTicket,
    exits: &AttachedExits,
) -> Result<Value, ExchangeError> {
    if !ticket.quantity.fract().is_zero() {
        return Err(ExchangeError::Rejected(format!(
            "unsupported_oco: Alpaca takes bracket orders in whole shares, not {}",
            ticket.quantity
        )));
    }
    let mut body = order_body(ticket)?;
    if !matches!(body["time_in_force"].as_str(), Some("day" | "gtc")) {
        return Err(ExchangeError::Rejected(format!(
            "unsupported_oco: Alpaca takes bracket orders as day or gtc orders, not {}",
            ticket.time_in_force
        )));
    }
    body["order_class"] = json!("bracket");
    body["take_profit"] = json!({"limit_price": decimal(exits.target_price)});
    body["stop_loss"] = json!({"stop_price": decimal(exits.stop_price)});
    Ok(body)
}

impl AlpacaExchange {
    /// The legs Alpaca made for the bracket entry under `entry` (its
    /// client order id), its views stop first; a bracket that holds no
    /// legs is refused by name, since the position would be unprotected.
    /// A lookup that cannot tell is `Unknown`.
    pub(super) async fn adopt_bracket(
        &self,
        entry: &str,
    ) -> Result<[ExchangeOrder; 2], ExchangeError> {
        let unknown = |failure: Failure| match read_error(failure) {
            ExchangeError::Rejected(why) => ExchangeError::Rejected(why),
            other => ExchangeError::Unknown(format!("reading the bracket of {entry}: {other}")),
        };
        let Some([stop, target]) = self.bracket(entry).await.map_err(unknown)? else {
            return Err(ExchangeError::Rejected(format!(
                "Alpaca holds no take-profit and stop-loss legs for the entry {entry}; \
                 its position is unprotected"
            )));
        };
        Ok([
            self.with_fills(&stop).await.map_err(unknown)?,
            self.with_fills(&target).await.map_err(unknown)?,
        ])
    }

    /// The bracket leg `leg` is (the stop or the target) of the entry
    /// under `entry`; `None` if Alpaca has no such bracket.
    pub(super) async fn fetch_leg(
        &self,
        leg: &OrderTicket,
        entry: &str,
    ) -> Result<Option<ExchangeOrder>, ExchangeError> {
        let Some([stop, target]) = self.bracket(entry).await.map_err(read_error)? else {
            return Ok(None);
        };
        let reply = match leg.order_type {
            OrderType::Stop | OrderType::StopLimit => stop,
            OrderType::Limit => target,
            OrderType::Market => {
                return Err(ExchangeError::Rejected(
                    "a bracket leg is a stop or a limit, not a market order".into(),
                ));
            }
        };
        self.with_fills(&reply).await.map(Some).map_err(read_error)
    }

    /// The legs of the bracket entry under `entry`, stop then target;
    /// `None` if Alpaca has no such order or it holds no legs.
    async fn bracket(&self, entry: &str) -> Result<Option<[OrderReply; 2]>, Failure> {
        let params = [("client_order_id", entry.to_string())];
        let parent: OrderReply = match self
            .rest
            .get(Api::Trading, "/v2/orders:by_client_order_id", &params)
            .await
        {
            Ok(parent) => parent,
            Err(Failure::Refused {
                code: NOT_FOUND, ..
            }) => return Ok(None),
            Err(failure) => return Err(failure),
        };
        let nested = [("nested", "true".to_string())];
        let parent: OrderReply = self
            .rest
            .get(Api::Trading, &format!("/v2/orders/{}", parent.id), &nested)
            .await?;
        legs(parent).map_err(Failure::NoAnswer)
    }
}

/// A bracket entry's legs, stop then target: its `stop` (or
/// `stop_limit`) leg and its `limit` leg. A leg of any other type is an
/// error, not a guess.
fn legs(parent: OrderReply) -> Result<Option<[OrderReply; 2]>, String> {
    let (mut stop, mut target) = (None, None);
    for leg in parent.legs.unwrap_or_default() {
        match leg.kind.as_str() {
            "stop" | "stop_limit" => stop = Some(leg),
            "limit" => target = Some(leg),
            other => {
                return Err(format!(
                    "Alpaca shows a leg of the unfamiliar type `{other}` on the bracket {}",
                    parent.client_order_id
                ));
            }
        }
    }
    Ok(stop.zip(target).map(|(stop, target)| [stop, target]))
}

#[cfg(test)]
mod tests {
    use rust_decimal::Decimal;

    use super::*;
    use crate::{
        market::{instrument::InstrumentKind, side::Side},
        model::order::TimeInForce,
    };

    fn entry(quantity: &str) -> OrderTicket {
        OrderTicket {
            client_order_id: "tp-e".into(),
            kind: InstrumentKind::Equity,
            ..OrderTicket::market(Side::Buy, "AAPL", "USD", quantity.parse().expect("decimal"))
        }
    }

    fn exits() -> AttachedExits {
        AttachedExits {
            group: "g".into(),
            stop_price: Decimal::from(1940),
            target_price: Decimal::from(2120),
        }
    }

    #[test]
    fn a_bracket_is_one_order_in_whole_shares_day_or_gtc() {
        let body = bracket_body(&entry("5"), &exits()).expect("a body");
        assert_eq!(body["order_class"], "bracket");
        assert_eq!(body["client_order_id"], "tp-e");
        assert_eq!(body["take_profit"]["limit_price"], "2120");
        assert_eq!(body["stop_loss"]["stop_price"], "1940");
        assert_eq!(body["time_in_force"], "day");
        for refused in [
            bracket_body(&entry("0.5"), &exits()),
            bracket_body(
                &OrderTicket {
                    time_in_force: TimeInForce::Ioc,
                    ..entry("5")
                },
                &exits(),
            ),
        ] {
            assert!(
                matches!(refused, Err(ExchangeError::Rejected(ref m)) if m.starts_with("unsupported_oco")),
                "{refused:?}"
            );
        }
    }

    #[test]
    fn legs_are_told_apart_by_type_and_an_unfamiliar_one_is_an_error() {
        let parent = |types: &[&str]| -> OrderReply {
            let legs: Vec<Value> = types
                .iter()
                .map(|t| json!({"id": t, "client_order_id": t, "status": "held", "type": t}))
                .collect();
            serde_json::from_value(json!({
                "id": "p", "client_order_id": "tp-e", "status": "filled", "legs": legs,
            }))
            .expect("parses")
        };
        let [stop, target] = legs(parent(&["limit", "stop"]))
            .expect("known types")
            .expect("both legs");
        assert_eq!((stop.id.as_str(), target.id.as_str()), ("stop", "limit"));
        assert!(matches!(legs(parent(&[])), Ok(None)));
        let unfamiliar = legs(parent(&["limit", "trailing_stop"]));
        assert!(
            matches!(unfamiliar, Err(ref m) if m.contains("trailing_stop")),
            "{unfamiliar:?}"
        );
    }
}
