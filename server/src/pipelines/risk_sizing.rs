//! Sizing by risk: the quantity that loses a set share of equity if the
//! stop-loss executes. quantity = equity × risk % ÷ stop distance.

use rust_decimal::Decimal;

use super::{
    sizing::{BPS, Market},
    spec::{Level, OrderPlan},
    stop::Stop,
};
use crate::market::{instrument::Instrument, side::Side};

/// The unrounded quantity of an entry on `side` that risks `percent` of
/// the equity held in `instrument`'s assets (the quote plus the base at
/// the market price, free and locked).
pub(super) fn risked_quantity(
    percent: Decimal,
    order: &OrderPlan,
    instrument: &Instrument,
    side: Side,
    market: &Market<'_>,
) -> Result<Decimal, Stop> {
    let price = market.price;
    let distance = stop_distance(order, side, price)?;
    let held = |asset: &str| {
        market
            .balances
            .iter()
            .filter(|(a, _, _)| a == asset)
            .map(|(_, free, locked)| free + locked)
            .sum::<Decimal>()
    };
    let equity = held(&instrument.quote) + held(&instrument.base) * price;
    Ok(equity * percent / Decimal::ONE_HUNDRED / distance)
}

/// How far the stop sits from `price`, from the stop-loss level or else
/// the trailing stop's distance.
fn stop_distance(order: &OrderPlan, side: Side, price: Decimal) -> Result<Decimal, Stop> {
    let distance = match (order.stop_loss, order.trailing_stop) {
        (Some(Level::OffsetBps(bps)), _) => price * bps / BPS,
        (Some(Level::Price(stop)), _) => {
            let below = side == Side::Buy;
            if (stop < price) != below || stop == price {
                return Err(Stop::Fail(format!(
                    "the stop-loss price {stop} is not {} the price {price}: no risk to size by",
                    if below { "below" } else { "above" }
                )));
            }
            (price - stop).abs()
        }
        (None, Some(trail)) => trail.distance(price),
        (None, None) => {
            return Err(Stop::Fail(
                "risk sizing needs a stop-loss or a trailing stop".into(),
            ));
        }
    };
    if distance <= Decimal::ZERO {
        return Err(Stop::Fail("the stop distance is zero".into()));
    }
    Ok(distance)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        market::hours::OutsideMarketHours,
        market::position::Position,
        model::order::{OrderType, TimeInForce},
        orders::exchanges::InstrumentRules,
        pipelines::spec::Trail,
    };

    fn d(text: &str) -> Decimal {
        text.parse().unwrap()
    }

    fn order(stop_loss: Option<Level>, trailing_stop: Option<Trail>) -> OrderPlan {
        OrderPlan {
            order_type: OrderType::Market,
            limit_offset_bps: Decimal::ZERO,
            time_in_force: TimeInForce::Gtc,
            stop_loss,
            take_profits: Vec::new(),
            trailing_stop,
            breakeven: false,
            cancel_after: None,
            leverage: None,
            outside_market_hours: OutsideMarketHours::Refuse,
            attach_exits: false,
            take_profit_at_market: false,
        }
    }

    fn risked(
        order: &OrderPlan,
        side: Side,
        balances: &[(String, Decimal, Decimal)],
    ) -> Result<Decimal, Stop> {
        let rules = InstrumentRules {
            tick_size: d("0.01"),
            lot_size: d("0.001"),
            min_quantity: d("0.001"),
            min_notional: d("10"),
        };
        let market = Market {
            symbol: "BTC/USDT",
            price: d("50000"),
            rules: &rules,
            position: Position::default(),
            balances,
            can_short: false,
        };
        risked_quantity(
            d("1"),
            order,
            &Instrument::spot("BTC", "USDT"),
            side,
            &market,
        )
    }

    #[test]
    fn one_percent_of_equity_over_the_stop_distance() {
        // 9 000 USDT (1 000 of it locked) + 0.02 BTC at 50 000 = 10 000
        // USDT of equity; 1 % of it is 100 USDT. A stop 200 bps below
        // 50 000 is 1 000 away: 100 / 1 000 = 0.1 BTC.
        let balances = [
            ("USDT".to_string(), d("8000"), d("1000")),
            ("BTC".to_string(), d("0.02"), d("0")),
            ("ETH".to_string(), d("10"), d("0")),
        ];
        let bps = order(Some(Level::OffsetBps(d("200"))), None);
        assert_eq!(risked(&bps, Side::Buy, &balances).unwrap(), d("0.1"));
        // A stop at 49 750 is 250 away: 100 / 250 = 0.4 BTC.
        let price = order(Some(Level::Price(d("49750"))), None);
        assert_eq!(risked(&price, Side::Buy, &balances).unwrap(), d("0.4"));
        // A short's stop sits above: 50 500 is 500 away, 0.2 BTC.
        let above = order(Some(Level::Price(d("50500"))), None);
        assert_eq!(risked(&above, Side::Sell, &balances).unwrap(), d("0.2"));
        // A trailing stop 2 % away: 1 000, 0.1 BTC.
        let trailing = order(None, Some(Trail::Percent(d("2"))));
        assert_eq!(risked(&trailing, Side::Buy, &balances).unwrap(), d("0.1"));
    }

    #[test]
    fn a_stop_on_the_wrong_side_or_none_fails() {
        let balances = [("USDT".to_string(), d("1000"), d("0"))];
        for plan in [
            order(Some(Level::Price(d("50500"))), None),
            order(None, None),
        ] {
            assert!(matches!(
                risked(&plan, Side::Buy, &balances),
                Err(Stop::Fail(_))
            ));
        }
    }
}
