//! `tpctl signal submit`'s alert overrides: flags for the entry's order
//! type, limit price, stop-loss and take-profit.

use clap::ValueEnum;
use tradeplane_api::{AlertOverrides, OrderType};

/// Overrides of the pipeline's order, for entries (buy, sell, add, reverse).
#[derive(clap::Args)]
pub struct OverrideArgs {
    /// The entry's order type; limit needs --limit-price.
    #[arg(long, value_enum)]
    order_type: Option<OverrideType>,
    /// The entry's limit price (decimal > 0); needs --order-type limit.
    #[arg(long, default_value = "")]
    limit_price: String,
    /// The stop-loss price, instead of the pipeline's stop.
    #[arg(long, default_value = "")]
    stop_loss: String,
    /// One take-profit price for the whole quantity.
    #[arg(long, default_value = "")]
    take_profit: String,
}

#[derive(Clone, Copy, ValueEnum)]
enum OverrideType {
    Market,
    Limit,
}

impl OverrideArgs {
    /// The request's overrides; `None` when no flag is given.
    pub fn to_proto(&self) -> Option<AlertOverrides> {
        let overrides = AlertOverrides {
            order_type: match self.order_type {
                None => OrderType::Unspecified,
                Some(OverrideType::Market) => OrderType::Market,
                Some(OverrideType::Limit) => OrderType::Limit,
            } as i32,
            limit_price: self.limit_price.clone(),
            stop_loss: self.stop_loss.clone(),
            take_profit: self.take_profit.clone(),
        };
        (overrides != AlertOverrides::default()).then_some(overrides)
    }
}
