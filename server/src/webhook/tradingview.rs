//! The TradingView message template, parsed into a [`RawSignal`].
//! Numbers may arrive quoted or bare; bare numbers keep their exact text.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::signals::{
    overrides::RawOverrides,
    validate::{RawSignal, RawTime},
};

/// What a webhook body carries: the shared secret and the signal.
#[derive(Debug, Clone, PartialEq)]
pub struct TradingViewBody {
    pub passphrase: Option<String>,
    pub signal: RawSignal,
}

/// The body could not be read as a TradingView message.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct BodyError(pub String);

/// Parses a webhook body. Accepted keys (aliases in brackets): `passphrase`,
/// `strategy`, `ticker` [`symbol`], `exchange`, `action`, `contracts`
/// [`quantity`, `qty`], `price` [`close`], `confidence`, `market_position`,
/// `position_size`, `percent` [`exit_percent`], `order_type`, `limit_price`, `stop_loss`,
/// `take_profit`, `sentiment`, `order_id`, `comment`, `interval`, `time` [`timenow`],
/// `request_id`, `source`, `tags` (an object). Unknown keys are ignored.
pub fn parse_body(body: &[u8]) -> Result<TradingViewBody, BodyError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        let hint = if body.first().is_some_and(|b| *b != b'{' && !b.is_ascii_whitespace()) {
            " (TradingView sends text/plain when the alert message is not valid JSON: paste the JSON template into the alert's Message box)"
        } else {
            ""
        };
        BodyError(format!("body is not valid JSON: {e}{hint}"))
    })?;
    let Value::Object(object) = value else {
        return Err(BodyError("body must be a JSON object".into()));
    };
    let text = |keys: &[&str]| first_text(&object, keys);
    let tags = match object.get("tags") {
        None | Some(Value::Null) => BTreeMap::new(),
        Some(Value::Object(tags)) => tags
            .iter()
            .map(|(k, v)| Ok((k.clone(), scalar_text(k, v)?)))
            .collect::<Result<_, BodyError>>()?,
        Some(_) => return Err(BodyError("`tags` must be an object of strings".into())),
    };
    let time = text(&["time", "timenow"])?;
    let source = text(&["source"])?;
    Ok(TradingViewBody {
        passphrase: object
            .get("passphrase")
            .and_then(Value::as_str)
            .map(str::to_string),
        signal: RawSignal {
            request_id: text(&["request_id"])?,
            source: if source.is_empty() {
                "tradingview".into()
            } else {
                source
            },
            strategy: text(&["strategy", "strategy_name"])?,
            symbol: text(&["ticker", "symbol"])?,
            exchange: text(&["exchange"])?,
            action: text(&["action"])?,
            quantity: text(&["contracts", "quantity", "qty"])?,
            price: text(&["price", "close"])?,
            confidence: text(&["confidence"])?,
            market_position: text(&["market_position"])?,
            position_size: text(&["position_size"])?,
            exit_percent: text(&["percent", "exit_percent"])?,
            overrides: RawOverrides {
                order_type: text(&["order_type"])?,
                limit_price: text(&["limit_price"])?,
                stop_loss: text(&["stop_loss"])?,
                take_profit: text(&["take_profit"])?,
            },
            sentiment: text(&["sentiment"])?,
            order_id: text(&["order_id"])?,
            comment: text(&["comment"])?,
            interval: text(&["interval"])?,
            event_time: if time.is_empty() {
                RawTime::Absent
            } else {
                RawTime::Text(time)
            },
            tags,
        },
    })
}

fn first_text(object: &Map<String, Value>, keys: &[&str]) -> Result<String, BodyError> {
    for key in keys {
        if let Some(value) = object.get(*key) {
            return scalar_text(key, value);
        }
    }
    Ok(String::new())
}

fn scalar_text(key: &str, value: &Value) -> Result<String, BodyError> {
    match value {
        Value::Null => Ok(String::new()),
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Array(_) | Value::Object(_) => {
            Err(BodyError(format!("`{key}` must be a string or a number")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_documented_template_parses() {
        let body = br#"{
            "passphrase": "s3cret", "strategy": "ema-cross", "ticker": "BTCUSDT", "exchange": "BINANCE",
            "action": "buy", "contracts": 0.0015, "price": "65000.10", "position_size": "0.0015",
            "market_position": "long", "order_id": "Long Entry", "comment": "", "interval": "15",
            "time": "2024-05-01T12:00:00Z"
        }"#;
        let parsed = parse_body(body).unwrap();
        assert_eq!(parsed.passphrase.as_deref(), Some("s3cret"));
        let s = parsed.signal;
        assert_eq!(
            (s.symbol.as_str(), s.exchange.as_str(), s.action.as_str()),
            ("BTCUSDT", "BINANCE", "buy")
        );
        assert_eq!(s.quantity, "0.0015", "a bare number keeps its exact text");
        assert_eq!(s.price, "65000.10");
        assert_eq!(s.source, "tradingview");
        assert_eq!(s.event_time, RawTime::Text("2024-05-01T12:00:00Z".into()));
    }

    #[test]
    fn overrides_are_read_at_the_top_level() {
        let parsed = parse_body(
            br#"{"ticker":"BTCUSDT","action":"buy","order_type":"limit","limit_price":49500,
                "stop_loss":"49000","take_profit":52000.5}"#,
        )
        .unwrap();
        assert_eq!(
            parsed.signal.overrides,
            RawOverrides {
                order_type: "limit".into(),
                limit_price: "49500".into(),
                stop_loss: "49000".into(),
                take_profit: "52000.5".into(),
            }
        );
    }

    #[test]
    fn pine_sentiment_is_read() {
        let parsed =
            parse_body(br#"{"ticker":"BTCUSDT","action":"sell","sentiment":"flat"}"#).unwrap();
        assert_eq!(parsed.signal.sentiment, "flat");
        assert_eq!(parsed.signal.market_position, "");
    }

    #[test]
    fn bare_numbers_are_exact() {
        let parsed = parse_body(
            br#"{"ticker":"X","action":"buy","price":0.1000000000000000055511151231257827}"#,
        )
        .unwrap();
        assert_eq!(parsed.signal.price, "0.1000000000000000055511151231257827");
    }

    #[test]
    fn unreadable_bodies_explain_themselves() {
        let err = parse_body(b"BTCUSDT buy 1").unwrap_err();
        assert!(
            err.0.contains("not valid JSON") && err.0.contains("text/plain"),
            "{err}"
        );
        assert!(parse_body(b"[1,2]").is_err());
        assert!(
            parse_body(br#"{"ticker":{"a":1}}"#)
                .unwrap_err()
                .0
                .contains("ticker")
        );
    }

    proptest! {
        #[test]
        fn never_panics(body in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = parse_body(&body);
        }

        #[test]
        fn any_object_of_scalars_parses(fields in proptest::collection::btree_map("[a-z_]{1,12}", "[ -~]{0,20}", 0..12)) {
            let body = serde_json::to_vec(&fields).unwrap();
            prop_assert!(parse_body(&body).is_ok());
        }
    }
}
