//! The pipeline file `tpctl pipeline create -f` reads: YAML or JSON, with
//! plain words for enums and durations such as `5m`. Numbers may be
//! written bare or quoted; they reach the server as decimal text.

use std::{collections::BTreeSet, path::Path, time::Duration};

use serde::{Deserialize, Deserializer};
use tradeplane_api::*;

/// A pipeline as written in a file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineFile {
    pub name: Option<String>,
    pub state: Option<String>,
    pub exchange: Option<String>,
    pub account: Option<String>,
    pub mode: Option<String>,
    pub trigger: Option<TriggerFile>,
    pub risk: Option<RiskFile>,
    pub sizing: Option<SizingFile>,
    pub order: Option<OrderFile>,
    pub concurrency: Option<String>,
    /// `warn`, `refuse` or `resync`.
    pub drift_policy: Option<String>,
    /// `true`: alerts that carry overrides (order type, limit price,
    /// stop-loss, take-profit, or a quantity the sizing does not take) are
    /// skipped.
    pub forbid_overrides: Option<bool>,
    pub approval: Option<ApprovalFile>,
}

/// Whether orders wait for an operator: `{required: true, expiry: 10m}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalFile {
    #[serde(default)]
    pub required: bool,
    /// How long an order waits; the server's default (1h) when absent.
    #[serde(default, with = "humantime_option")]
    pub expiry: Option<Duration>,
}

/// `signal:` or `schedule:`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriggerFile {
    pub signal: Option<SignalFile>,
    pub schedule: Option<ScheduleFile>,
}

/// Which signals start the pipeline.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignalFile {
    #[serde(default)]
    pub source: String,
    /// Glob over the canonical symbol, e.g. `BTC/*`.
    #[serde(default)]
    pub symbol: String,
    #[serde(default)]
    pub actions: Vec<String>,
    #[serde(default)]
    pub strategy: String,
    #[serde(default, deserialize_with = "decimal_text")]
    pub min_confidence: String,
}

/// When the pipeline runs by itself: `every: 1h` or `cron: "0 * * * *"`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleFile {
    #[serde(default, with = "humantime_option")]
    pub every: Option<Duration>,
    pub cron: Option<String>,
    pub symbol: String,
    #[serde(default = "buy")]
    pub action: String,
}

fn buy() -> String {
    "buy".into()
}

/// Risk limits; absent is no limit.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RiskFile {
    #[serde(default, deserialize_with = "decimal_text")]
    pub max_order_notional: String,
    #[serde(default, deserialize_with = "decimal_text")]
    pub max_position: String,
    #[serde(default)]
    pub max_orders_per_minute: u32,
    #[serde(default, with = "humantime_option")]
    pub cooldown: Option<Duration>,
    #[serde(default, deserialize_with = "decimal_text")]
    pub daily_loss_limit: String,
    #[serde(default)]
    pub allowed_sides: Vec<String>,
}

/// Exactly one sizing method.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SizingFile {
    #[serde(default, deserialize_with = "optional_decimal_text")]
    pub quantity: Option<String>,
    #[serde(default, deserialize_with = "optional_decimal_text")]
    pub quote_amount: Option<String>,
    #[serde(default, deserialize_with = "optional_decimal_text")]
    pub percent_of_balance: Option<String>,
    #[serde(default)]
    pub from_signal: bool,
    /// Percent of equity lost if the stop-loss executes.
    #[serde(default, deserialize_with = "optional_decimal_text")]
    pub risk_percent: Option<String>,
}

/// The order a pipeline places.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderFile {
    #[serde(default, rename = "type")]
    pub order_type: String,
    #[serde(default, deserialize_with = "decimal_text")]
    pub limit_offset_bps: String,
    #[serde(default)]
    pub time_in_force: String,
    pub stop_loss: Option<LevelFile>,
    pub take_profit: Option<LevelFile>,
    /// Several take-profits, each for a share of the position.
    #[serde(default)]
    pub take_profits: Vec<TakeProfitFile>,
    /// `offset:` (price units) or `percent:`.
    pub trailing_stop: Option<TrailingFile>,
    /// Move the stops to the entry price once a take-profit executes.
    #[serde(default)]
    pub breakeven_after_first_take_profit: bool,
    /// Cancel a LIMIT entry not filled after this long, e.g. `30s`.
    #[serde(default, with = "humantime_option")]
    pub cancel_after: Option<Duration>,
    /// Perpetuals: the leverage, 1 to 125 (with `margin_mode`).
    #[serde(default)]
    pub leverage: u32,
    /// Perpetuals: `isolated` or `cross` (with `leverage`).
    #[serde(default)]
    pub margin_mode: String,
    /// Stocks: `refuse` (the default) or `queue` an order while the
    /// market is closed.
    #[serde(default)]
    pub outside_market_hours: String,
    /// The venue attaches the stop-loss and take-profit to the entry
    /// (Alpaca, OKX, Bybit linear).
    #[serde(default)]
    pub attach_exits: bool,
    /// Take-profits trigger at their level and close at the market
    /// (Binance USDⓈ-M).
    #[serde(default)]
    pub take_profit_at_market: bool,
}

/// How far a trailing stop follows the price.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrailingFile {
    #[serde(default, deserialize_with = "optional_decimal_text")]
    pub offset: Option<String>,
    #[serde(default, deserialize_with = "optional_decimal_text")]
    pub percent: Option<String>,
}

/// A take-profit for `percent` of the position.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TakeProfitFile {
    #[serde(default, deserialize_with = "optional_decimal_text")]
    pub offset_bps: Option<String>,
    #[serde(default, deserialize_with = "optional_decimal_text")]
    pub price: Option<String>,
    #[serde(default, deserialize_with = "decimal_text")]
    pub percent: String,
}

/// `offset_bps:` or `price:`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LevelFile {
    #[serde(default, deserialize_with = "optional_decimal_text")]
    pub offset_bps: Option<String>,
    #[serde(default, deserialize_with = "optional_decimal_text")]
    pub price: Option<String>,
}

fn optional_decimal_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    decimal_text(d).map(Some)
}

/// A number or a string, as decimal text.
fn decimal_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum NumberOrText {
        Text(String),
        Int(i64),
        Float(f64),
    }
    Ok(match NumberOrText::deserialize(deserializer)? {
        NumberOrText::Text(text) => text,
        NumberOrText::Int(n) => n.to_string(),
        NumberOrText::Float(f) => f.to_string(),
    })
}

mod humantime_option {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let text = Option::<String>::deserialize(d)?;
        text.map(|t| humantime::parse_duration(&t).map_err(serde::de::Error::custom))
            .transpose()
    }
}

fn enum_value(
    kind: &str,
    prefix: &str,
    word: &str,
    from: impl Fn(&str) -> Option<i32>,
) -> Result<i32, String> {
    let name = format!("{prefix}{}", word.to_uppercase().replace('-', "_"));
    from(&name).ok_or_else(|| format!("`{word}` is not a {kind}"))
}

/// As [`enum_value`], with an empty word meaning unset (0).
fn optional_enum_value(
    kind: &str,
    prefix: &str,
    word: &str,
    from: impl Fn(&str) -> Option<i32>,
) -> Result<i32, String> {
    if word.is_empty() {
        Ok(0)
    } else {
        enum_value(kind, prefix, word, from)
    }
}

fn duration(d: Duration) -> prost_types::Duration {
    prost_types::Duration {
        seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        nanos: i32::try_from(d.subsec_nanos()).unwrap_or(0),
    }
}

/// How a pipeline file is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    Json,
    Yaml,
}

impl PipelineFile {
    /// Reads a `.json`, `.yaml` or `.yml` file.
    pub fn read(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let format = if path.extension().is_some_and(|e| e == "json") {
            FileFormat::Json
        } else {
            FileFormat::Yaml
        };
        Self::parse(&text, format).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Parses the text of a pipeline file.
    pub fn parse(text: &str, format: FileFormat) -> Result<Self, String> {
        match format {
            FileFormat::Json => serde_json::from_str(text).map_err(|e| e.to_string()),
            FileFormat::Yaml => serde_yaml_ng::from_str(text).map_err(|e| e.to_string()),
        }
    }

    /// The top-level fields the file sets (UpdatePipeline's mask).
    pub fn fields(&self) -> BTreeSet<&'static str> {
        [
            ("name", self.name.is_some()),
            ("state", self.state.is_some()),
            ("exchange", self.exchange.is_some()),
            ("account", self.account.is_some()),
            ("mode", self.mode.is_some()),
            ("trigger", self.trigger.is_some()),
            ("risk", self.risk.is_some()),
            ("sizing", self.sizing.is_some()),
            ("order", self.order.is_some()),
            ("concurrency", self.concurrency.is_some()),
            ("drift_policy", self.drift_policy.is_some()),
            ("forbid_overrides", self.forbid_overrides.is_some()),
            ("approval", self.approval.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, set)| set.then_some(name))
        .collect()
    }

    /// The protobuf pipeline.
    pub fn to_proto(&self) -> Result<Pipeline, String> {
        let word = |w: &Option<String>| w.clone().unwrap_or_default();
        let mut pipeline = Pipeline {
            name: word(&self.name),
            exchange: word(&self.exchange),
            account: word(&self.account),
            forbid_overrides: self.forbid_overrides.unwrap_or_default(),
            ..Default::default()
        };
        if let Some(state) = &self.state {
            pipeline.state =
                enum_value("state (enabled, paused)", "PIPELINE_STATE_", state, |n| {
                    PipelineState::from_str_name(n).map(|v| v as i32)
                })?;
        }
        if let Some(mode) = &self.mode {
            pipeline.mode = enum_value("mode (paper, live)", "TRADING_MODE_", mode, |n| {
                TradingMode::from_str_name(n).map(|v| v as i32)
            })?;
        }
        if let Some(policy) = &self.concurrency {
            pipeline.concurrency = enum_value(
                "concurrency policy (skip_if_running, queue)",
                "CONCURRENCY_POLICY_",
                policy,
                |n| ConcurrencyPolicy::from_str_name(n).map(|v| v as i32),
            )?;
        }
        if let Some(policy) = &self.drift_policy {
            pipeline.drift_policy = enum_value(
                "drift policy (warn, refuse, resync)",
                "DRIFT_POLICY_",
                policy,
                |n| DriftPolicy::from_str_name(n).map(|v| v as i32),
            )?;
        }
        pipeline.approval = self.approval.as_ref().map(|a| ApprovalPolicy {
            required: a.required,
            expiry: a.expiry.map(duration),
        });
        if let Some(trigger) = &self.trigger {
            let kind = match (&trigger.signal, &trigger.schedule) {
                (Some(m), None) => trigger::Kind::Signal(SignalMatch {
                    source: m.source.clone(),
                    symbol_glob: m.symbol.clone(),
                    actions: m.actions.clone(),
                    strategy: m.strategy.clone(),
                    min_confidence: m.min_confidence.clone(),
                }),
                (None, Some(s)) => trigger::Kind::Schedule(Schedule {
                    spec: match (&s.every, &s.cron) {
                        (_, Some(cron)) => Some(schedule::Spec::Cron(cron.clone())),
                        (Some(every), None) => Some(schedule::Spec::Interval(duration(*every))),
                        (None, None) => None,
                    },
                    symbol: s.symbol.clone(),
                    action: s.action.clone(),
                }),
                _ => return Err("trigger: give either `signal:` or `schedule:`".into()),
            };
            pipeline.trigger = Some(Trigger { kind: Some(kind) });
        }
        if let Some(risk) = &self.risk {
            let allowed_sides = risk
                .allowed_sides
                .iter()
                .map(|s| {
                    enum_value("side (buy, sell)", "SIDE_", s, |n| {
                        Side::from_str_name(n).map(|v| v as i32)
                    })
                })
                .collect::<Result<_, _>>()?;
            pipeline.risk = Some(RiskRules {
                max_order_notional: risk.max_order_notional.clone(),
                max_position: risk.max_position.clone(),
                max_orders_per_minute: risk.max_orders_per_minute,
                cooldown: risk.cooldown.map(duration),
                daily_loss_limit: risk.daily_loss_limit.clone(),
                allowed_sides,
            });
        }
        if let Some(sizing) = &self.sizing {
            let methods = [
                sizing.quantity.clone().map(sizing::Method::FixedQuantity),
                sizing
                    .quote_amount
                    .clone()
                    .map(sizing::Method::FixedQuoteAmount),
                sizing
                    .percent_of_balance
                    .clone()
                    .map(sizing::Method::PercentOfBalance),
                sizing
                    .from_signal
                    .then_some(sizing::Method::FromSignal(true)),
                sizing.risk_percent.clone().map(sizing::Method::RiskPercent),
            ];
            let mut chosen = methods.into_iter().flatten();
            let method = chosen.next();
            if method.is_none() || chosen.next().is_some() {
                return Err(
                    "sizing: give exactly one of quantity, quote_amount, percent_of_balance, from_signal, risk_percent"
                        .into(),
                );
            }
            pipeline.sizing = Some(Sizing { method });
        }
        if let Some(order) = &self.order {
            let level = |l: &Option<LevelFile>| {
                l.as_ref().map(|l| ProtectiveOrder {
                    level: match (&l.offset_bps, &l.price) {
                        (Some(bps), _) => Some(protective_order::Level::OffsetBps(bps.clone())),
                        (None, Some(price)) => Some(protective_order::Level::Price(price.clone())),
                        (None, None) => None,
                    },
                })
            };
            pipeline.order = Some(OrderSettings {
                r#type: optional_enum_value(
                    "order type (market, limit)",
                    "ORDER_TYPE_",
                    &order.order_type,
                    |n| OrderType::from_str_name(n).map(|v| v as i32),
                )?,
                limit_offset_bps: order.limit_offset_bps.clone(),
                time_in_force: optional_enum_value(
                    "time in force (gtc, ioc, fok)",
                    "TIME_IN_FORCE_",
                    &order.time_in_force,
                    |n| TimeInForce::from_str_name(n).map(|v| v as i32),
                )?,
                stop_loss: level(&order.stop_loss),
                take_profit: level(&order.take_profit),
                take_profits: order
                    .take_profits
                    .iter()
                    .map(|target| TakeProfitLevel {
                        level: level(&Some(LevelFile {
                            offset_bps: target.offset_bps.clone(),
                            price: target.price.clone(),
                        })),
                        percent: target.percent.clone(),
                    })
                    .collect(),
                trailing_stop: order
                    .trailing_stop
                    .as_ref()
                    .map(|trail| match (&trail.offset, &trail.percent) {
                        (Some(offset), None) => Ok(TrailingStop {
                            distance: Some(trailing_stop::Distance::Offset(offset.clone())),
                        }),
                        (None, Some(percent)) => Ok(TrailingStop {
                            distance: Some(trailing_stop::Distance::Percent(percent.clone())),
                        }),
                        _ => Err("order.trailing_stop: give exactly one of offset, percent"),
                    })
                    .transpose()?,
                breakeven_after_first_take_profit: order.breakeven_after_first_take_profit,
                cancel_after: order.cancel_after.map(duration),
                leverage: order.leverage,
                margin_mode: optional_enum_value(
                    "margin mode (isolated, cross)",
                    "MARGIN_MODE_",
                    &order.margin_mode,
                    |n| MarginMode::from_str_name(n).map(|v| v as i32),
                )?,
                outside_market_hours: optional_enum_value(
                    "outside market hours (refuse, queue)",
                    "OUTSIDE_MARKET_HOURS_",
                    &order.outside_market_hours,
                    |n| OutsideMarketHours::from_str_name(n).map(|v| v as i32),
                )?,
                attach_exits: order.attach_exits,
                take_profit_at_market: order.take_profit_at_market,
            });
        }
        Ok(pipeline)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_file_becomes_a_pipeline() {
        let file: PipelineFile = serde_yaml_ng::from_str(
            r#"
name: ema-cross
exchange: paper
trigger:
  signal: { source: tradingview, symbol: "BTC/*", actions: [buy, exit] }
risk: { max_order_notional: 5000, cooldown: 5m, allowed_sides: [buy, sell] }
sizing: { quote_amount: 1000 }
order: { type: limit, limit_offset_bps: 5, stop_loss: { offset_bps: 200 } }
concurrency: queue
forbid_overrides: true
approval: { required: true, expiry: 10m }
"#,
        )
        .expect("parses");
        let pipeline = file.to_proto().expect("converts");
        assert_eq!(pipeline.concurrency, ConcurrencyPolicy::Queue as i32);
        assert!(pipeline.forbid_overrides);
        assert_eq!(
            pipeline.sizing.and_then(|s| s.method),
            Some(sizing::Method::FixedQuoteAmount("1000".into()))
        );
        let risk = pipeline.risk.expect("risk");
        assert_eq!(risk.cooldown.map(|d| d.seconds), Some(300));
        assert_eq!(risk.allowed_sides, [Side::Buy as i32, Side::Sell as i32]);
        let approval = pipeline.approval.expect("approval");
        assert!(approval.required);
        assert_eq!(approval.expiry.map(|d| d.seconds), Some(600));
        assert_eq!(
            pipeline.order.expect("order").r#type,
            OrderType::Limit as i32
        );
        assert_eq!(
            file.fields().into_iter().collect::<Vec<_>>(),
            [
                "approval",
                "concurrency",
                "exchange",
                "forbid_overrides",
                "name",
                "order",
                "risk",
                "sizing",
                "trigger"
            ]
        );
    }

    #[test]
    fn a_bad_word_is_named() {
        let file = PipelineFile {
            mode: Some("yolo".into()),
            ..Default::default()
        };
        assert_eq!(
            file.to_proto().unwrap_err(),
            "`yolo` is not a mode (paper, live)"
        );
    }
}
