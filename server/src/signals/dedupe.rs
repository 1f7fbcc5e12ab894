//! Idempotency keys of signals.

use sha2::{Digest, Sha256};

use super::{
    config::SignalsConfig,
    overrides::RawOverrides,
    validate::{RawSignal, RawTime},
};
use crate::store::DedupeKey;

/// The idempotency key: the request id when given; else a hash of the
/// source, strategy order id, event time and content. A key without an
/// event time only catches redeliveries within the content window.
///
/// Keys are laid out so that new keys sort after old ones where the
/// meaning allows (request ids are kept as sent, and UUIDv7 request ids
/// are time-ordered; event-time keys lead with the event time, the others
/// with their arrival bucket): then the store appends instead of dirtying
/// a random page per signal.
pub fn dedupe_key(
    config: &SignalsConfig,
    raw: &RawSignal,
    event_time_ms: Option<i64>,
    now_ms: i64,
) -> DedupeKey {
    let retention = |d: std::time::Duration| now_ms.saturating_add(d.as_millis() as i64);
    if !raw.request_id.is_empty() {
        return DedupeKey {
            key: format!("r:{}\u{1f}{}", raw.request_id, raw.source),
            expires_ms: retention(config.dedupe_retention),
            earlier: None,
        };
    }
    let mut hasher = Sha256::new();
    let mut part = |text: &str| {
        hasher.update(text.as_bytes());
        hasher.update([0x1f]);
    };
    part(&raw.source);
    let event_time = match &raw.event_time {
        RawTime::Absent => String::new(),
        RawTime::At(at) => at.to_rfc3339(),
        RawTime::Text(text) => text.trim().to_string(),
    };
    for text in [
        &raw.strategy,
        &raw.order_id,
        &event_time,
        &raw.symbol,
        &raw.exchange,
        &raw.action,
        &raw.quantity,
        &raw.price,
        &raw.confidence,
        &raw.market_position,
        &raw.position_size,
        &raw.comment,
        &raw.interval,
    ] {
        part(text);
    }
    for (key, value) in &raw.tags {
        part(key);
        part(value);
    }
    // Only when sent, so that keys of bodies without it stay as they were.
    if !raw.sentiment.is_empty() {
        part(&raw.sentiment);
    }
    if !raw.exit_percent.is_empty() {
        part(&raw.exit_percent);
    }
    if raw.overrides != RawOverrides::default() {
        for text in raw.overrides.texts() {
            part(text);
        }
    }
    let digest = hex::encode(hasher.finalize());
    if event_time.is_empty() {
        // Without an event time a retry and a repeat differ only in
        // when they come (TradingView's order id names the order,
        // "Long", and recurs): the key lives for the content window,
        // prefixed with its arrival bucket of that length so that keys
        // go in time order; the previous bucket's key is checked too.
        let window = i64::try_from(config.content_dedupe_window.as_millis())
            .unwrap_or(i64::MAX)
            .max(1);
        let bucket = now_ms.div_euclid(window) * window;
        let key = |bucket: i64| format!("c:{bucket:015}:{digest}");
        return DedupeKey {
            key: key(bucket),
            expires_ms: retention(config.content_dedupe_window),
            earlier: Some(key(bucket - window)),
        };
    }
    let event_ms = event_time_ms.map_or(0, |ms| ms.max(0));
    DedupeKey {
        key: format!("e:{event_ms:015}:{digest}"),
        expires_ms: retention(config.dedupe_retention),
        earlier: None,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn tradingview(order_id: &str) -> RawSignal {
        RawSignal {
            source: "tradingview".into(),
            strategy: "ema".into(),
            order_id: order_id.into(),
            symbol: "BTCUSDT".into(),
            action: "buy".into(),
            price: "64120.5".into(),
            ..Default::default()
        }
    }

    #[test]
    fn keys_without_an_event_time_carry_their_arrival_bucket_and_check_the_previous_one() {
        let config = SignalsConfig {
            content_dedupe_window: Duration::from_secs(60),
            ..Default::default()
        };
        let raw = tradingview("Long");
        let first = dedupe_key(&config, &raw, None, 119_999);
        let retry = dedupe_key(&config, &raw, None, 120_001);
        assert!(first.key.starts_with("c:000000000060000:"), "{first:?}");
        assert_eq!(retry.earlier.as_deref(), Some(first.key.as_str()));
        assert_eq!(first.expires_ms, 179_999, "kept for the content window");
        let other = dedupe_key(&config, &tradingview("Short"), None, 119_999);
        assert_ne!(other.key, first.key, "the order id is part of the content");
        assert!(first.key < retry.key, "later keys sort after earlier ones");
    }

    #[test]
    fn overrides_are_part_of_the_content() {
        let config = SignalsConfig::default();
        let plain = tradingview("Long");
        let stopped = RawSignal {
            overrides: RawOverrides {
                stop_loss: "49000".into(),
                ..Default::default()
            },
            ..tradingview("Long")
        };
        assert_ne!(
            dedupe_key(&config, &plain, None, 0).key,
            dedupe_key(&config, &stopped, None, 0).key
        );
    }

    #[test]
    fn request_ids_and_event_times_key_for_the_retention() {
        let config = SignalsConfig::default();
        let mut raw = tradingview("Long");
        raw.request_id = "r-1".into();
        let keyed = dedupe_key(&config, &raw, None, 0);
        assert_eq!(keyed.key, "r:r-1\u{1f}tradingview");
        assert_eq!((keyed.expires_ms, keyed.earlier), (86_400_000, None));
        let mut timed = tradingview("Long");
        timed.event_time = RawTime::Text("2026-12-02T10:00:00Z".into());
        let at = chrono::DateTime::parse_from_rfc3339("2026-12-02T10:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let key = dedupe_key(&config, &timed, Some(at.timestamp_millis()), 0);
        assert!(
            key.key
                .starts_with(&format!("e:{:015}:", at.timestamp_millis()))
        );
        assert_eq!(key.earlier, None);
    }
}
