//! The order a pipeline places, checked and compiled: its type, its
//! bracket (stop-loss, take-profits, trailing stop, breakeven), how long
//! a limit entry may rest, and the leverage of a perpetual.

use std::time::Duration;

use rust_decimal::Decimal;
use tradeplane_api::{
    OrderSettings, ProtectiveOrder, TrailingStop, protective_order, trailing_stop,
};

use super::spec::Violations;
use crate::{
    codec::enums::Mirrored,
    market::{
        hours::OutsideMarketHours,
        margin::{Leverage, MAX_LEVERAGE, MarginMode},
    },
    model::order::{OrderType, TimeInForce},
    orders::exchanges::NativeTrailing,
    proto_time::checked_duration,
};

/// A protective level.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Level {
    OffsetBps(Decimal),
    Price(Decimal),
}

/// How far a trailing stop stays from the best price since the fill.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Trail {
    /// In price units.
    Offset(Decimal),
    /// In percent of the price.
    Percent(Decimal),
}

impl Trail {
    /// The distance at `price`.
    pub fn distance(self, price: Decimal) -> Decimal {
        match self {
            Trail::Offset(offset) => offset,
            Trail::Percent(percent) => price * percent / Decimal::ONE_HUNDRED,
        }
    }
}

/// The order a pipeline places.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderPlan {
    pub order_type: OrderType,
    pub limit_offset_bps: Decimal,
    pub time_in_force: TimeInForce,
    pub stop_loss: Option<Level>,
    /// Each take-profit and its share of the position in percent; the
    /// shares add up to at most 100.
    pub take_profits: Vec<(Level, Decimal)>,
    /// The stop follows the price at this distance.
    pub trailing_stop: Option<Trail>,
    /// The stops move to the entry price once a take-profit executes.
    pub breakeven: bool,
    /// A resting limit entry is canceled after this long.
    pub cancel_after: Option<Duration>,
    /// Perpetuals: the leverage set on the exchange before the first
    /// order in a symbol; `None`: the venue's as it is.
    pub leverage: Option<Leverage>,
    /// Stocks: what an order does while its market is closed.
    pub outside_market_hours: OutsideMarketHours,
    /// The venue attaches the stop-loss and take-profit to the entry.
    pub attach_exits: bool,
    /// Take-profits trigger at their level and close at the market.
    pub take_profit_at_market: bool,
}

impl OrderPlan {
    /// The trailing delta, in basis points, by which a venue that trails
    /// stops natively as `venue` says trails this plan's stop; `None`
    /// when the keeper emulates the trail instead. Only a percent trail in
    /// whole basis points that the venue takes goes native, and only alone: a
    /// fixed stop-loss or a breakeven move would change a stop the venue
    /// trails, which it cannot combine.
    pub fn native_trailing_bips(&self, venue: Option<NativeTrailing>) -> Option<u32> {
        let (Some(Trail::Percent(percent)), None, false) =
            (self.trailing_stop, self.stop_loss, self.breakeven)
        else {
            return None;
        };
        let bips = percent * Decimal::ONE_HUNDRED;
        if !bips.fract().is_zero() {
            return None;
        }
        let bips = u32::try_from(bips).ok()?;
        venue?.fits(bips).then_some(bips)
    }
}

/// Checks `settings` and fills in their defaults; every bad field is
/// added to `bad`.
pub(super) fn compile_order_plan(settings: OrderSettings, bad: &mut Violations) -> OrderPlan {
    // Unset means MARKET; any other number than MARKET or LIMIT is refused
    // (the MARKET after `bad.add` is never used: the spec is invalid).
    let order_type = match OrderType::optional(settings.r#type, "pipeline.order.type") {
        Ok(None) => OrderType::Market,
        Ok(Some(t @ (OrderType::Market | OrderType::Limit))) => t,
        Ok(Some(_)) | Err(_) => {
            bad.add(
                "pipeline.order.type",
                "pipelines place MARKET or LIMIT orders",
            );
            OrderType::Market
        }
    };
    let limit_offset_bps = bad
        .decimal(
            "pipeline.order.limit_offset_bps",
            &settings.limit_offset_bps,
            false,
        )
        .unwrap_or_default();
    let time_in_force = match TimeInForce::optional(settings.time_in_force, "time_in_force") {
        Ok(None) => TimeInForce::Gtc,
        Ok(Some(t)) => t,
        Err(err) => {
            bad.add(
                "pipeline.order.time_in_force",
                format!("{err}; choose GTC, IOC or FOK, or leave it unset for GTC"),
            );
            TimeInForce::Gtc
        }
    };
    let level = |bad: &mut Violations, field: &str, order: &Option<ProtectiveOrder>| match order
        .as_ref()
        .and_then(|o| o.level.as_ref())
    {
        Some(protective_order::Level::OffsetBps(bps)) => bad
            .decimal(&format!("{field}.offset_bps"), bps, true)
            .map(Level::OffsetBps),
        Some(protective_order::Level::Price(price)) => bad
            .decimal(&format!("{field}.price"), price, true)
            .map(Level::Price),
        None => None,
    };
    let stop_loss = level(bad, "pipeline.order.stop_loss", &settings.stop_loss);
    let mut take_profits: Vec<(Level, Decimal)> =
        level(bad, "pipeline.order.take_profit", &settings.take_profit)
            .map(|level| (level, Decimal::ONE_HUNDRED))
            .into_iter()
            .collect();
    if !take_profits.is_empty() && !settings.take_profits.is_empty() {
        bad.add(
            "pipeline.order.take_profits",
            "give take_profit or take_profits, not both",
        );
    }
    for (index, target) in settings.take_profits.iter().enumerate() {
        let field = format!("pipeline.order.take_profits[{index}]");
        let level = level(bad, &field, &Some(target.level.clone().unwrap_or_default()));
        let percent = bad.decimal(&format!("{field}.percent"), &target.percent, true);
        match (level, percent) {
            (None, _) => bad.add(&field, "needs offset_bps or price"),
            (Some(_), None) => bad.add(&format!("{field}.percent"), "is required"),
            (Some(level), Some(percent)) => take_profits.push((level, percent)),
        }
    }
    let shares: Decimal = take_profits.iter().map(|(_, percent)| *percent).sum();
    if shares > Decimal::ONE_HUNDRED {
        bad.add(
            "pipeline.order.take_profits",
            format!("the shares add up to {shares}%, more than 100%"),
        );
    }
    let trailing_stop = trailing(bad, &settings.trailing_stop);
    let breakeven = settings.breakeven_after_first_take_profit;
    if breakeven && (take_profits.is_empty() || (stop_loss.is_none() && trailing_stop.is_none())) {
        bad.add(
            "pipeline.order.breakeven_after_first_take_profit",
            "needs a stop (stop_loss or trailing_stop) and a take-profit",
        );
    }
    let cancel_after = settings.cancel_after.map(|d| match checked_duration(&d) {
        Ok(after) if !after.is_zero() && order_type == OrderType::Limit => after,
        Ok(after) if !after.is_zero() => {
            bad.add(
                "pipeline.order.cancel_after",
                "only LIMIT entries rest: set type LIMIT",
            );
            after
        }
        _ => {
            bad.add("pipeline.order.cancel_after", "must be a positive duration");
            Duration::ZERO
        }
    });
    let leverage = leverage(bad, settings.leverage, settings.margin_mode);
    let hours_field = "pipeline.order.outside_market_hours";
    let outside_market_hours =
        match OutsideMarketHours::optional(settings.outside_market_hours, hours_field) {
            Ok(rule) => rule.unwrap_or(OutsideMarketHours::Refuse),
            Err(err) => {
                bad.add(hours_field, format!("{err}; choose REFUSE or QUEUE"));
                OutsideMarketHours::Refuse
            }
        };
    let attach_exits = settings.attach_exits;
    if attach_exits
        && (stop_loss.is_none()
            || take_profits.len() != 1
            || shares != Decimal::ONE_HUNDRED
            || trailing_stop.is_some()
            || breakeven)
    {
        bad.add(
            "pipeline.order.attach_exits",
            "needs a stop_loss and one take_profit for the whole position, without trailing_stop or breakeven",
        );
    }
    let take_profit_at_market = settings.take_profit_at_market;
    if take_profit_at_market && (take_profits.is_empty() || attach_exits) {
        bad.add(
            "pipeline.order.take_profit_at_market",
            "needs a take_profit, and no attach_exits (the venue prices attached exits itself)",
        );
    }
    OrderPlan {
        order_type,
        limit_offset_bps,
        time_in_force,
        stop_loss,
        take_profits,
        trailing_stop,
        breakeven,
        cancel_after,
        leverage,
        outside_market_hours,
        attach_exits,
        take_profit_at_market,
    }
}

/// The leverage and margin mode, given together or not at all.
fn leverage(bad: &mut Violations, leverage: u32, mode: i32) -> Option<Leverage> {
    let field = "pipeline.order.margin_mode";
    let mode = match MarginMode::optional(mode, field) {
        Ok(mode) => mode,
        Err(err) => {
            bad.add(field, format!("{err}; choose ISOLATED or CROSS"));
            return None;
        }
    };
    match (leverage, mode) {
        (0, None) => None,
        (0, Some(_)) => {
            bad.add("pipeline.order.leverage", "is required with margin_mode");
            None
        }
        (_, None) => {
            bad.add(field, "is required with a leverage: ISOLATED or CROSS");
            None
        }
        (leverage, Some(_)) if leverage > MAX_LEVERAGE => {
            bad.add(
                "pipeline.order.leverage",
                format!("{leverage} is out of range: 1 to {MAX_LEVERAGE}"),
            );
            None
        }
        (leverage, Some(mode)) => Some(Leverage { leverage, mode }),
    }
}

fn trailing(bad: &mut Violations, settings: &Option<TrailingStop>) -> Option<Trail> {
    let field = "pipeline.order.trailing_stop";
    match settings.as_ref().map(|t| t.distance.as_ref()) {
        None => None,
        Some(None) => {
            bad.add(field, "give offset or percent");
            None
        }
        Some(Some(trailing_stop::Distance::Offset(offset))) => bad
            .decimal(&format!("{field}.offset"), offset, true)
            .map(Trail::Offset),
        Some(Some(trailing_stop::Distance::Percent(percent))) => {
            let percent = bad.decimal(&format!("{field}.percent"), percent, true);
            if percent.is_some_and(|p| p >= Decimal::ONE_HUNDRED) {
                bad.add(&format!("{field}.percent"), "must be below 100");
            }
            percent.map(Trail::Percent)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn violations(settings: OrderSettings) -> Vec<String> {
        let mut bad = Violations::default();
        compile_order_plan(settings, &mut bad);
        bad.fields()
    }

    #[test]
    fn brackets_that_cannot_work_are_named() {
        let trailing = |distance| {
            Some(TrailingStop {
                distance: Some(distance),
            })
        };
        let cases = [
            (
                OrderSettings {
                    cancel_after: Some(prost_types::Duration {
                        seconds: 5,
                        nanos: 0,
                    }),
                    ..Default::default()
                },
                "pipeline.order.cancel_after",
            ),
            (
                OrderSettings {
                    breakeven_after_first_take_profit: true,
                    ..Default::default()
                },
                "pipeline.order.breakeven_after_first_take_profit",
            ),
            (
                OrderSettings {
                    trailing_stop: trailing(trailing_stop::Distance::Percent("100".into())),
                    ..Default::default()
                },
                "pipeline.order.trailing_stop.percent",
            ),
            (
                OrderSettings {
                    trailing_stop: trailing(trailing_stop::Distance::Offset("-1".into())),
                    ..Default::default()
                },
                "pipeline.order.trailing_stop.offset",
            ),
            (
                OrderSettings {
                    trailing_stop: Some(TrailingStop { distance: None }),
                    ..Default::default()
                },
                "pipeline.order.trailing_stop",
            ),
            (
                // Attached exits need a stop and a target for it all.
                OrderSettings {
                    attach_exits: true,
                    stop_loss: Some(ProtectiveOrder {
                        level: Some(protective_order::Level::OffsetBps("200".into())),
                    }),
                    ..Default::default()
                },
                "pipeline.order.attach_exits",
            ),
        ];
        for (settings, field) in cases {
            assert_eq!(violations(settings), [field]);
        }
    }

    #[test]
    fn leverage_comes_with_a_margin_mode_within_range() {
        let settings = |leverage, margin_mode| OrderSettings {
            leverage,
            margin_mode,
            ..Default::default()
        };
        let cross = tradeplane_api::MarginMode::Cross as i32;
        for (leverage, mode, field) in [
            (126, cross, "pipeline.order.leverage"),
            (0, cross, "pipeline.order.leverage"),
            (10, 0, "pipeline.order.margin_mode"),
            (10, 7, "pipeline.order.margin_mode"),
        ] {
            assert_eq!(violations(settings(leverage, mode)), [field]);
        }
        let mut bad = Violations::default();
        let plan = compile_order_plan(settings(125, cross), &mut bad);
        assert!(bad.fields().is_empty());
        assert_eq!(
            plan.leverage,
            Some(Leverage {
                leverage: 125,
                mode: MarginMode::Cross
            })
        );
        assert_eq!(compile_order_plan(settings(0, 0), &mut bad).leverage, None);
    }

    #[test]
    fn only_a_lone_percent_trail_in_the_venue_range_goes_native() {
        let plan = |trail, stop_loss, breakeven| OrderPlan {
            order_type: OrderType::Market,
            limit_offset_bps: Decimal::ZERO,
            time_in_force: TimeInForce::Gtc,
            stop_loss,
            take_profits: Vec::new(),
            trailing_stop: Some(trail),
            breakeven,
            cancel_after: None,
            leverage: None,
            outside_market_hours: OutsideMarketHours::Refuse,
            attach_exits: false,
            take_profit_at_market: false,
        };
        let binance = || {
            Some(NativeTrailing {
                bips: 10..=2000,
                step: 1,
            })
        };
        let usdm = || {
            Some(NativeTrailing {
                bips: 10..=1000,
                step: 10,
            })
        };
        let percent = |text: &str| Trail::Percent(text.parse().expect("decimal"));
        // 2 % is 200 basis points.
        assert_eq!(
            plan(percent("2"), None, false).native_trailing_bips(binance()),
            Some(200)
        );
        assert_eq!(
            plan(percent("0.1"), None, false).native_trailing_bips(binance()),
            Some(10)
        );
        assert_eq!(
            plan(percent("1.3"), None, false).native_trailing_bips(usdm()),
            Some(130)
        );
        for emulated in [
            plan(percent("2"), None, false).native_trailing_bips(None),
            plan(percent("0.05"), None, false).native_trailing_bips(binance()),
            plan(percent("25"), None, false).native_trailing_bips(binance()),
            plan(percent("1.234"), None, false).native_trailing_bips(binance()),
            plan(Trail::Offset(Decimal::from(100)), None, false).native_trailing_bips(binance()),
            plan(
                percent("2"),
                Some(Level::OffsetBps(Decimal::from(100))),
                false,
            )
            .native_trailing_bips(binance()),
            plan(percent("2"), None, true).native_trailing_bips(binance()),
            // USDⓈ-M's callback rate goes by tenths of a percent, to 10 %.
            plan(percent("1.25"), None, false).native_trailing_bips(usdm()),
            plan(percent("12"), None, false).native_trailing_bips(usdm()),
        ] {
            assert_eq!(emulated, None);
        }
    }

    #[test]
    fn a_trail_is_a_distance_in_price_or_percent() {
        let price = Decimal::from(50_000);
        assert_eq!(
            Trail::Offset(Decimal::from(150)).distance(price),
            Decimal::from(150)
        );
        assert_eq!(
            Trail::Percent(Decimal::from(2)).distance(price),
            Decimal::from(1000)
        );
    }
}
