//! A pipeline checked and compiled: every decimal parsed, every default
//! filled in, every field that can never work named. The rest of the
//! domain only sees [`Compiled`] pipelines.

use std::time::Duration;

use rust_decimal::Decimal;
use tradeplane_api::{
    ConcurrencyPolicy, Pipeline, PipelineState, TradingMode, schedule, sizing, trigger,
};

use super::order_plan::compile_order_plan;
pub use super::{
    drift::DriftPolicy,
    order_plan::{Level, OrderPlan, Trail},
};
use crate::{
    api_error::{ApiError, FieldError},
    codec::enums::Mirrored,
    market::{account::DEFAULT_ACCOUNT, decimal::parse_decimal, side::Side},
    model::signal::{Signal, SignalAction},
    proto_time::checked_duration,
};

/// Longest pipeline name (it is a metric label).
const MAX_NAME: usize = 64;
/// Shortest schedule interval.
const MIN_INTERVAL: Duration = Duration::from_secs(1);
/// How long a held order waits when the approval policy names no expiry.
const DEFAULT_APPROVAL_EXPIRY: Duration = Duration::from_secs(3600);

/// Which signals start a pipeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Matcher {
    pub source: String,
    pub symbol_glob: String,
    pub actions: Vec<SignalAction>,
    pub strategy: String,
    pub min_confidence: Option<Decimal>,
}

impl Matcher {
    /// Whether `signal` triggers the pipeline.
    pub fn matches(&self, signal: &Signal) -> bool {
        let Some(intent) = &signal.intent else {
            return false;
        };
        (self.source.is_empty() || self.source == signal.source)
            && (self.strategy.is_empty() || self.strategy == signal.strategy)
            && (self.actions.is_empty() || self.actions.contains(&intent.action))
            && (self.symbol_glob.is_empty()
                || glob_match(&self.symbol_glob, &intent.instrument.symbol))
            && self.min_confidence.is_none_or(|min| {
                intent
                    .confidence
                    .is_some_and(|confidence| confidence >= min)
            })
    }
}

/// When a time trigger fires.
#[derive(Debug, Clone)]
pub enum When {
    Every(Duration),
    /// Five-field cron, UTC.
    Cron(Box<croner::Cron>),
}

/// A time trigger.
#[derive(Debug, Clone)]
pub struct TimeTrigger {
    pub when: When,
    pub symbol: String,
    pub action: SignalAction,
}

/// How big an order is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SizingRule {
    Quantity(Decimal),
    QuoteAmount(Decimal),
    PercentOfBalance(Decimal),
    FromSignal,
    /// Percent of equity lost if the stop-loss executes.
    RiskPercent(Decimal),
}

/// Risk limits; `None` is no limit.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RiskLimits {
    pub max_order_notional: Option<Decimal>,
    pub max_position: Option<Decimal>,
    pub max_orders_per_minute: u32,
    pub cooldown: Duration,
    pub daily_loss_limit: Option<Decimal>,
    pub allowed_sides: Vec<Side>,
}

/// A valid pipeline, ready to run: its identity and every rule typed.
#[derive(Debug, Clone)]
pub struct Compiled {
    /// UUIDv7.
    pub id: String,
    /// Unique; a metric label.
    pub name: String,
    /// The configured exchange its orders go to.
    pub exchange: String,
    /// The account at the exchange its orders go to.
    pub account: String,
    /// Whether it trades real money (mode LIVE).
    pub live: bool,
    /// Whether it reacts to triggers (not paused).
    pub enabled: bool,
    /// Whether a second trigger skips while one runs (else it queues).
    pub skip_if_running: bool,
    pub matcher: Option<Matcher>,
    pub schedule: Option<TimeTrigger>,
    pub sizing: SizingRule,
    pub risk: RiskLimits,
    pub order: OrderPlan,
    /// What a drift of its position book does.
    pub drift: DriftPolicy,
    /// Whether a signal carrying alert overrides is skipped instead of
    /// changing the pipeline's order.
    pub forbid_overrides: bool,
    /// How long its orders wait in the approval queue; `None`: they are
    /// sent without approval.
    pub approval_expiry: Option<Duration>,
    /// The definition as it was written, with defaults filled in: the
    /// document the store keeps and Get returns, and that updates merge
    /// into. The domain reads the typed fields above, never this.
    pub definition: Pipeline,
}

/// Collects field violations.
#[derive(Default)]
pub(super) struct Violations(Vec<FieldError>);

impl Violations {
    pub(super) fn add(&mut self, field: &str, description: impl Into<String>) {
        self.0.push(FieldError {
            field: field.to_string(),
            description: description.into(),
        });
    }

    /// The named fields, in order.
    #[cfg(test)]
    pub(super) fn fields(&self) -> Vec<String> {
        self.0.iter().map(|f| f.field.clone()).collect()
    }

    pub(super) fn decimal(&mut self, field: &str, text: &str, positive: bool) -> Option<Decimal> {
        if text.is_empty() {
            return None;
        }
        match parse_decimal(text) {
            Ok(value) if positive && value <= Decimal::ZERO => {
                self.add(field, "must be greater than zero");
                None
            }
            Ok(value) => Some(value),
            Err(err) => {
                self.add(field, err);
                None
            }
        }
    }
}

/// Fills defaults into `pipeline` and checks every field; the error lists
/// each bad field (AIP-193 BadRequest).
pub fn compile(mut pipeline: Pipeline) -> Result<Compiled, ApiError> {
    let mut bad = Violations::default();
    let name_ok = !pipeline.name.is_empty()
        && pipeline.name.len() <= MAX_NAME
        && pipeline
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !name_ok {
        bad.add(
            "pipeline.name",
            format!("1 to {MAX_NAME} characters of a-z, 0-9, '-' and '_'"),
        );
    }
    if pipeline.state == PipelineState::Unspecified as i32 {
        pipeline.state = PipelineState::Enabled as i32;
    }
    if pipeline.mode == TradingMode::Unspecified as i32 {
        pipeline.mode = TradingMode::Paper as i32;
    }
    if pipeline.exchange.is_empty() {
        pipeline.exchange = "paper".into();
    }
    if pipeline.account.is_empty() {
        pipeline.account = DEFAULT_ACCOUNT.into();
    }
    if pipeline.concurrency == ConcurrencyPolicy::Unspecified as i32 {
        pipeline.concurrency = ConcurrencyPolicy::SkipIfRunning as i32;
    }
    if pipeline.drift_policy == tradeplane_api::DriftPolicy::Unspecified as i32 {
        pipeline.drift_policy = tradeplane_api::DriftPolicy::Warn as i32;
    }
    let drift = match tradeplane_api::DriftPolicy::try_from(pipeline.drift_policy) {
        Ok(tradeplane_api::DriftPolicy::Refuse) => DriftPolicy::Refuse,
        Ok(tradeplane_api::DriftPolicy::Resync) => DriftPolicy::Resync,
        Ok(_) => DriftPolicy::Warn,
        Err(_) => {
            bad.add(
                "pipeline.drift_policy",
                "choose DRIFT_POLICY_WARN, _REFUSE or _RESYNC",
            );
            DriftPolicy::Warn
        }
    };

    let (matcher, schedule) = match pipeline.trigger.as_ref().and_then(|t| t.kind.as_ref()) {
        Some(trigger::Kind::Signal(filter)) => {
            let actions = filter
                .actions
                .iter()
                .filter_map(|a| {
                    let action = SignalAction::named(a);
                    if action.is_none() {
                        bad.add(
                            "pipeline.trigger.signal.actions",
                            format!("`{a}` is not an action ({})", SignalAction::WORDS),
                        );
                    }
                    action
                })
                .collect();
            if !filter
                .symbol_glob
                .chars()
                // `:` for perpetuals: BTC/USDT:PERP.
                .all(|c| c.is_ascii_alphanumeric() || "/*?._-!:".contains(c))
            {
                bad.add(
                    "pipeline.trigger.signal.symbol_glob",
                    "use a canonical symbol with * and ?, e.g. BTC/* or BTC/USDT:PERP",
                );
            }
            let min_confidence = bad.decimal(
                "pipeline.trigger.signal.min_confidence",
                &filter.min_confidence,
                false,
            );
            if min_confidence.is_some_and(|c| c > Decimal::ONE) {
                bad.add(
                    "pipeline.trigger.signal.min_confidence",
                    "must be between 0 and 1",
                );
            }
            let matcher = Matcher {
                source: filter.source.clone(),
                symbol_glob: filter.symbol_glob.to_uppercase(),
                actions,
                strategy: filter.strategy.clone(),
                min_confidence,
            };
            (Some(matcher), None)
        }
        Some(trigger::Kind::Schedule(time)) => {
            let when = match &time.spec {
                Some(schedule::Spec::Interval(interval)) => {
                    let field = "pipeline.trigger.schedule.interval";
                    let every = checked_duration(interval).unwrap_or_else(|why| {
                        bad.add(field, why);
                        MIN_INTERVAL
                    });
                    if every < MIN_INTERVAL {
                        bad.add(field, "must be at least 1s");
                    }
                    When::Every(every)
                }
                Some(schedule::Spec::Cron(text)) => match parse_cron(text) {
                    Ok(cron) => When::Cron(Box::new(cron)),
                    Err(err) => {
                        bad.add("pipeline.trigger.schedule.cron", err);
                        When::Every(Duration::ZERO)
                    }
                },
                None => {
                    bad.add(
                        "pipeline.trigger.schedule",
                        "give an interval or a cron expression",
                    );
                    When::Every(Duration::ZERO)
                }
            };
            if time.symbol.is_empty() {
                bad.add(
                    "pipeline.trigger.schedule.symbol",
                    "a scheduled run needs a symbol",
                );
            }
            let action = SignalAction::named(&time.action).unwrap_or_else(|| {
                bad.add(
                    "pipeline.trigger.schedule.action",
                    format!(
                        "`{}` is not an action ({})",
                        time.action,
                        SignalAction::WORDS
                    ),
                );
                // Never used: the spec is invalid.
                SignalAction::Buy
            });
            let trigger = TimeTrigger {
                when,
                symbol: time.symbol.clone(),
                action,
            };
            (None, Some(trigger))
        }
        None => {
            bad.add("pipeline.trigger", "give a signal filter or a schedule");
            (None, None)
        }
    };

    let sizing = match pipeline.sizing.as_ref().and_then(|s| s.method.as_ref()) {
        Some(sizing::Method::FixedQuantity(q)) => bad
            .decimal("pipeline.sizing.fixed_quantity", q, true)
            .map(SizingRule::Quantity),
        Some(sizing::Method::FixedQuoteAmount(q)) => bad
            .decimal("pipeline.sizing.fixed_quote_amount", q, true)
            .map(SizingRule::QuoteAmount),
        Some(sizing::Method::PercentOfBalance(p)) => {
            let percent = bad.decimal("pipeline.sizing.percent_of_balance", p, true);
            if percent.is_some_and(|p| p > Decimal::ONE_HUNDRED) {
                bad.add("pipeline.sizing.percent_of_balance", "must be at most 100");
            }
            percent.map(SizingRule::PercentOfBalance)
        }
        Some(sizing::Method::RiskPercent(p)) => {
            let percent = bad.decimal("pipeline.sizing.risk_percent", p, true);
            if percent.is_some_and(|p| p > Decimal::ONE_HUNDRED) {
                bad.add("pipeline.sizing.risk_percent", "must be at most 100");
            }
            percent.map(SizingRule::RiskPercent)
        }
        Some(sizing::Method::FromSignal(true)) => Some(SizingRule::FromSignal),
        _ => {
            bad.add(
                "pipeline.sizing",
                "choose fixed_quantity, fixed_quote_amount, percent_of_balance, from_signal or risk_percent",
            );
            None
        }
    };

    let rules = pipeline.risk.clone().unwrap_or_default();
    let allowed_sides = rules
        .allowed_sides
        .iter()
        .filter_map(
            |s| match Side::optional(*s, "pipeline.risk.allowed_sides") {
                Ok(Some(side)) => Some(side),
                _ => {
                    bad.add("pipeline.risk.allowed_sides", "only SIDE_BUY and SIDE_SELL");
                    None
                }
            },
        )
        .collect();
    let risk = RiskLimits {
        max_order_notional: bad.decimal(
            "pipeline.risk.max_order_notional",
            &rules.max_order_notional,
            true,
        ),
        max_position: bad.decimal("pipeline.risk.max_position", &rules.max_position, true),
        max_orders_per_minute: rules.max_orders_per_minute,
        cooldown: rules
            .cooldown
            .map(|d| {
                checked_duration(&d).unwrap_or_else(|why| {
                    bad.add("pipeline.risk.cooldown", why);
                    Duration::ZERO
                })
            })
            .unwrap_or_default(),
        daily_loss_limit: bad.decimal(
            "pipeline.risk.daily_loss_limit",
            &rules.daily_loss_limit,
            true,
        ),
        allowed_sides,
    };

    let order = compile_order_plan(pipeline.order.clone().unwrap_or_default(), &mut bad);
    if matches!(sizing, Some(SizingRule::RiskPercent(_)))
        && order.stop_loss.is_none()
        && order.trailing_stop.is_none()
    {
        bad.add(
            "pipeline.sizing.risk_percent",
            "risk sizing needs order.stop_loss or order.trailing_stop: the risk is the distance to the stop",
        );
    }

    let approval_expiry = match pipeline.approval.as_mut().filter(|a| a.required) {
        None => None,
        Some(policy) => {
            let expiry = policy.expiry.get_or_insert_with(|| {
                prost_types::Duration::try_from(DEFAULT_APPROVAL_EXPIRY).unwrap_or_default()
            });
            match checked_duration(expiry) {
                Ok(expiry) if !expiry.is_zero() => Some(expiry),
                Ok(_) => {
                    bad.add("pipeline.approval.expiry", "must be positive");
                    None
                }
                Err(why) => {
                    bad.add("pipeline.approval.expiry", why);
                    None
                }
            }
        }
    };

    match (bad.0.is_empty(), sizing) {
        (true, Some(sizing)) => Ok(Compiled {
            id: pipeline.id.clone(),
            name: pipeline.name.clone(),
            exchange: pipeline.exchange.clone(),
            account: pipeline.account.clone(),
            live: pipeline.mode == TradingMode::Live as i32,
            enabled: pipeline.state == PipelineState::Enabled as i32,
            skip_if_running: pipeline.concurrency != ConcurrencyPolicy::Queue as i32,
            forbid_overrides: pipeline.forbid_overrides,
            definition: pipeline,
            matcher,
            schedule,
            sizing,
            risk,
            order,
            drift,
            approval_expiry,
        }),
        _ => Err(invalid(bad.0)),
    }
}

/// An INVALID_ARGUMENT naming every bad field.
pub fn invalid(fields: Vec<FieldError>) -> ApiError {
    let message = fields
        .iter()
        .map(|f| format!("{}: {}", f.field, f.description))
        .collect::<Vec<_>>()
        .join("; ");
    ApiError::InvalidArgument {
        reason: "INVALID_PIPELINE".into(),
        message,
        fields,
    }
}

/// A five-field cron expression (minute hour day-of-month month
/// day-of-week), evaluated in UTC.
pub fn parse_cron(text: &str) -> Result<croner::Cron, String> {
    if text.split_whitespace().count() != 5 {
        return Err(format!(
            "`{text}` is not a five-field cron expression (minute hour day month weekday)"
        ));
    }
    text.parse::<croner::Cron>()
        .map_err(|e| format!("`{text}` is not a valid cron expression: {e}"))
}

/// `*` matches any run of characters, `?` any one character.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_canonical_symbols() {
        assert!(glob_match("BTC/*", "BTC/USDT"));
        assert!(glob_match("*/USDT", "ETH/USDT"));
        assert!(glob_match("?TC/USD?", "BTC/USDT"));
        assert!(!glob_match("BTC/*", "ETH/USDT"));
        assert!(glob_match("*", "NQ1!"));
        assert!(!glob_match("BTC", "BTC/USDT"));
    }

    #[test]
    fn cron_expressions_are_checked() {
        assert!(parse_cron("*/5 * * * *").is_ok());
        assert!(parse_cron("0 9 * * MON-FRI").is_ok());
        assert!(parse_cron("61 * * * *").is_err());
        assert!(parse_cron("* * * *").is_err(), "four fields");
        assert!(parse_cron("every minute").is_err());
    }

    #[test]
    fn every_bad_field_is_named() {
        let err = compile(Pipeline {
            name: "bad name!".into(),
            sizing: Some(tradeplane_api::Sizing {
                method: Some(sizing::Method::PercentOfBalance("150".into())),
            }),
            ..Default::default()
        })
        .unwrap_err();
        let ApiError::InvalidArgument { fields, .. } = err else {
            panic!("not INVALID_ARGUMENT")
        };
        let named: Vec<_> = fields.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(
            named,
            [
                "pipeline.name",
                "pipeline.trigger",
                "pipeline.sizing.percent_of_balance"
            ]
        );
    }

    #[test]
    fn order_enum_numbers_no_value_has_are_named() {
        let err = compile(Pipeline {
            name: "future".into(),
            order: Some(tradeplane_api::OrderSettings {
                r#type: 999,
                time_in_force: 999,
                ..Default::default()
            }),
            ..Default::default()
        })
        .unwrap_err();
        let ApiError::InvalidArgument { fields, .. } = err else {
            panic!("not INVALID_ARGUMENT")
        };
        let named: Vec<_> = fields.iter().map(|f| f.field.as_str()).collect();
        assert!(named.contains(&"pipeline.order.type"), "{named:?}");
        assert!(named.contains(&"pipeline.order.time_in_force"), "{named:?}");
    }
}
