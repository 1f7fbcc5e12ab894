//! Mapping between tradeplane's orders and OKX's: symbols and instrument
//! types, client order ids, sizes in contracts, order bodies, and OKX's
//! failures as domain errors.

use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::{replies::InstrumentReply, rest::Failure};
use crate::{
    market::{instrument::InstrumentKind, margin::MarginMode, side::Side},
    model::order::{OrderType, TimeInForce},
    orders::exchanges::{ExchangeError, InstrumentRules, OrderTicket},
};

/// OKX's instrument type of a canonical symbol and its instrument id:
/// `BTC/USDT` → (`SPOT`, `BTC-USDT`), `BTC/USDT:PERP` → (`SWAP`,
/// `BTC-USDT-SWAP`).
pub(super) fn venue_symbol(symbol: &str) -> Result<(&'static str, String), ExchangeError> {
    let unknown = || ExchangeError::UnknownSymbol(symbol.to_string());
    let (pair, swap) = match symbol.strip_suffix(":PERP") {
        Some(pair) => (pair, true),
        None => (symbol, false),
    };
    let (base, quote) = pair.split_once('/').ok_or_else(unknown)?;
    let word = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric());
    if !word(base) || !word(quote) {
        return Err(unknown());
    }
    Ok(if swap {
        ("SWAP", format!("{base}-{quote}-SWAP"))
    } else {
        ("SPOT", format!("{base}-{quote}"))
    })
}

/// The client order id OKX is sent (`clOrdId`: 1 to 32 letters and
/// digits). The desk's ids, `tp-` and 32 hex digits, lose only their
/// prefix; any other id of letters and digits that cannot be mistaken for
/// one is sent as it is; anything else is refused, so that two orders
/// never share an id at OKX.
pub(super) fn venue_client_id(client_order_id: &str) -> Result<String, ExchangeError> {
    let hex32 =
        |s: &str| s.len() == 32 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if let Some(digest) = client_order_id.strip_prefix("tp-").filter(|d| hex32(d)) {
        return Ok(digest.to_string());
    }
    let plain = (1..=32).contains(&client_order_id.len())
        && client_order_id.bytes().all(|b| b.is_ascii_alphanumeric())
        && !hex32(client_order_id);
    if plain {
        Ok(client_order_id.to_string())
    } else {
        Err(ExchangeError::Rejected(format!(
            "client order id `{client_order_id}` cannot be an OKX clOrdId (1 to 32 letters \
             and digits, or tp- and 32 hex digits)"
        )))
    }
}

/// [`venue_client_id`] for a lookup: an id OKX cannot hold is refused.
pub(super) fn lookup_id(client_order_id: &str) -> Result<String, Failure> {
    venue_client_id(client_order_id).map_err(|e| Failure::Refused {
        code: 0,
        message: e.to_string(),
    })
}

/// An instrument as OKX lists it.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Instrument {
    pub(super) inst_type: &'static str,
    pub(super) inst_id: String,
    pub(super) tick_size: Decimal,
    /// In OKX's size unit: base for spot, contracts for swaps.
    pub(super) lot_size: Decimal,
    pub(super) min_size: Decimal,
    /// Base units per contract; one for spot.
    pub(super) contract_value: Decimal,
}

impl Instrument {
    /// The instrument of a listing.
    pub(super) fn from_reply(
        inst_type: &'static str,
        reply: InstrumentReply,
    ) -> Result<Self, String> {
        let contract_value = match (inst_type, reply.ct_val) {
            ("SPOT", _) => Decimal::ONE,
            (_, Some(value)) if value > Decimal::ZERO => value,
            _ => return Err(format!("{} has no contract value", reply.inst_id)),
        };
        Ok(Self {
            inst_type,
            inst_id: reply.inst_id,
            tick_size: reply.tick_sz,
            lot_size: reply.lot_sz,
            min_size: reply.min_sz,
            contract_value,
        })
    }

    /// The rules in base units.
    pub(super) fn rules(&self) -> InstrumentRules {
        InstrumentRules {
            tick_size: self.tick_size,
            lot_size: self.lot_size * self.contract_value,
            min_quantity: self.min_size * self.contract_value,
            min_notional: Decimal::ZERO,
        }
    }

    /// A size OKX reports (contracts for swaps) in base units.
    pub(super) fn base_quantity(&self, size: Decimal) -> Decimal {
        (size * self.contract_value).normalize()
    }

    /// A base quantity as OKX's size, exactly: a quantity that is not a
    /// whole number of lots is refused, never rounded here.
    pub(super) fn venue_size(&self, quantity: Decimal) -> Result<Decimal, ExchangeError> {
        let size = quantity / self.contract_value;
        let whole_lots = self.lot_size.is_zero() || (size % self.lot_size).is_zero();
        if whole_lots {
            Ok(size.normalize())
        } else {
            Err(ExchangeError::Rejected(format!(
                "quantity {quantity} is not a whole number of {} lots of {} base each",
                self.inst_id,
                self.lot_size * self.contract_value
            )))
        }
    }
}

/// An order's body for `POST /api/v5/trade/order`. `margin` is the
/// swap's margin mode (`tdMode`); spot trades `cash`.
pub(super) fn order_body(
    ticket: &OrderTicket,
    instrument: &Instrument,
    margin: Option<MarginMode>,
) -> Result<Value, ExchangeError> {
    let decimal = |d: Decimal| d.normalize().to_string();
    let ord_type = match (ticket.order_type, ticket.time_in_force) {
        (OrderType::Market, _) => "market",
        (OrderType::Limit, TimeInForce::Ioc) => "ioc",
        (OrderType::Limit, TimeInForce::Fok) => "fok",
        (OrderType::Limit, _) => "limit",
        (other, _) => {
            return Err(ExchangeError::Rejected(format!(
                "unsupported_order_type: {} orders are algo orders at OKX; this connector \
                 sends them only as a bracket's legs",
                other.word()
            )));
        }
    };
    let td_mode = match (instrument.inst_type, margin) {
        ("SPOT", _) => "cash",
        (_, Some(mode)) => mode.word(),
        (_, None) => {
            return Err(ExchangeError::Rejected(format!(
                "no margin mode is known for {}: set its leverage first",
                ticket.symbol
            )));
        }
    };
    let mut body = json!({
        "instId": instrument.inst_id,
        "tdMode": td_mode,
        "clOrdId": venue_client_id(&ticket.client_order_id)?,
        "side": if ticket.side == Side::Sell { "sell" } else { "buy" },
        "ordType": ord_type,
        "sz": decimal(instrument.venue_size(ticket.quantity)?),
    });
    if instrument.inst_type == "SPOT" && ticket.order_type == OrderType::Market {
        // Without it a spot market buy's size is in the quote asset.
        body["tgtCcy"] = json!("base_ccy");
    }
    if ticket.order_type == OrderType::Limit {
        let price = ticket
            .price
            .ok_or_else(|| ExchangeError::Rejected("price: a limit order needs a price".into()))?;
        body["px"] = json!(decimal(price));
    }
    if ticket.reduce_only {
        body["reduceOnly"] = json!(true);
    }
    Ok(body)
}

/// Puts a swap order (or algo order) `body` in long/short position mode:
/// `posSide` says which position it trades (a reduce-only sell closes the
/// long, a plain sell opens or adds to the short), and `reduceOnly`,
/// which OKX takes in net mode only, goes. Spot bodies are left as they
/// are.
pub(super) fn in_long_short_mode(body: &mut Value, ticket: &OrderTicket, instrument: &Instrument) {
    if instrument.inst_type != "SWAP" {
        return;
    }
    let long = (ticket.side == Side::Buy) != ticket.reduce_only;
    body["posSide"] = json!(if long { "long" } else { "short" });
    if let Some(fields) = body.as_object_mut() {
        fields.remove("reduceOnly");
    }
}

/// The instrument kinds of OKX's instrument types.
pub(super) const KINDS: &[InstrumentKind] = &[InstrumentKind::Spot, InstrumentKind::Perpetual];

/// A failed read: nothing changed at OKX, so it is unavailable or
/// refused, never unknown.
pub(super) fn read_error(failure: Failure) -> ExchangeError {
    failure.into_read_error(|other| order_error(other, ""))
}

/// OKX's refusals as domain errors.
pub(super) fn order_error(failure: Failure, symbol: &str) -> ExchangeError {
    failure.into_error("OKX", |code, message| refusal(code, message, symbol))
}

fn refusal(code: i64, message: String, symbol: &str) -> ExchangeError {
    match code {
        51001 => ExchangeError::UnknownSymbol(symbol.to_string()),
        51603 => ExchangeError::NotFound,
        50103..=50107 | 50111 | 50113 => ExchangeError::Rejected(format!(
            "OKX refused the API key, passphrase or signature ({code}: {message}); check \
             the account's api_key, api_secret and passphrase"
        )),
        50102 | 50112 => ExchangeError::Unavailable(format!(
            "our clock is too far from OKX's even after re-syncing ({code}: {message})"
        )),
        51008 => ExchangeError::Rejected(format!("insufficient balance (OKX 51008: {message})")),
        51020 => ExchangeError::Rejected(format!(
            "below the minimum order notional (OKX 51020: {message})"
        )),
        _ => ExchangeError::Rejected(format!("{message} (OKX {code})")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn swap() -> Instrument {
        Instrument {
            inst_type: "SWAP",
            inst_id: "BTC-USDT-SWAP".into(),
            tick_size: Decimal::new(1, 1),
            lot_size: Decimal::new(1, 2),
            min_size: Decimal::new(1, 2),
            contract_value: Decimal::new(1, 2),
        }
    }

    #[test]
    fn symbols_and_client_ids_map_losslessly() {
        assert_eq!(venue_symbol("BTC/USDT"), Ok(("SPOT", "BTC-USDT".into())));
        assert_eq!(
            venue_symbol("BTC/USDT:PERP"),
            Ok(("SWAP", "BTC-USDT-SWAP".into()))
        );
        assert!(venue_symbol("NQ1!").is_err());
        let desk = format!("tp-{}", "ab12".repeat(8));
        assert_eq!(venue_client_id(&desk), Ok("ab12".repeat(8)));
        assert!(
            venue_client_id(&"ab12".repeat(8)).is_err(),
            "a bare digest would collide with a desk id"
        );
        assert_eq!(venue_client_id("seed42"), Ok("seed42".into()));
        assert!(venue_client_id("tp-1-0").is_err());
        assert!(venue_client_id(&"a".repeat(33)).is_err());
    }

    #[test]
    fn swap_sizes_are_contracts_exactly() {
        let swap = swap();
        assert_eq!(swap.venue_size(Decimal::new(5, 3)), Ok(Decimal::new(5, 1)));
        assert_eq!(swap.base_quantity(Decimal::new(5, 1)), Decimal::new(5, 3));
        assert!(
            swap.venue_size(Decimal::new(5, 5)).is_err(),
            "not whole lots"
        );
        assert_eq!(swap.rules().lot_size, Decimal::new(1, 4));
    }

    #[test]
    fn an_exit_is_reduce_only_in_its_margin_mode() {
        let ticket = OrderTicket {
            client_order_id: format!("tp-{}", "0".repeat(32)),
            symbol: "BTC/USDT:PERP".into(),
            reduce_only: true,
            kind: InstrumentKind::Perpetual,
            ..OrderTicket::market(Side::Sell, "BTC", "USDT", Decimal::new(1, 2))
        };
        let body = order_body(&ticket, &swap(), Some(MarginMode::Isolated)).expect("a body");
        assert_eq!(body["tdMode"], "isolated");
        assert_eq!(body["reduceOnly"], true);
        assert_eq!(body["sz"], "1");
        assert_eq!(body["side"], "sell");
        assert!(
            order_body(&ticket, &swap(), None).is_err(),
            "no silent margin mode"
        );
    }
}
