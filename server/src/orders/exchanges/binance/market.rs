//! The two Binance markets one connector trades: spot (`/api/v3`) and
//! USDⓈ-M futures (`/fapi`). Signing, the clock, the weight and the
//! exactly-once placement are the same; the paths, the defaults, the
//! order parameters and what each trades differ.

use crate::{market::instrument::InstrumentKind, orders::exchanges::NativeTrailing};

/// A Binance market.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Market {
    /// Spot, `/api/v3`: the exchange `binance`.
    Spot,
    /// USDⓈ-M perpetual futures, `/fapi`: the exchange `binance_usdm`.
    UsdM,
}

/// Where a market's endpoints are.
pub(super) struct Paths {
    pub(super) time: &'static str,
    pub(super) order: &'static str,
    pub(super) trades: &'static str,
    pub(super) exchange_info: &'static str,
    pub(super) ticker: &'static str,
}

const SPOT_PATHS: Paths = Paths {
    time: "/api/v3/time",
    order: "/api/v3/order",
    trades: "/api/v3/myTrades",
    exchange_info: "/api/v3/exchangeInfo",
    ticker: "/api/v3/ticker/price",
};

const USDM_PATHS: Paths = Paths {
    time: "/fapi/v1/time",
    order: "/fapi/v1/order",
    trades: "/fapi/v1/userTrades",
    exchange_info: "/fapi/v1/exchangeInfo",
    ticker: "/fapi/v1/ticker/price",
};

impl Market {
    /// The exchange's name and kind, and its configuration section under
    /// `exchanges`.
    pub fn name(self) -> &'static str {
        match self {
            Market::Spot => "binance",
            Market::UsdM => "binance_usdm",
        }
    }

    /// The testnet, where a connection goes unless told it is live.
    pub fn testnet_url(self) -> &'static str {
        match self {
            Market::Spot => "https://testnet.binance.vision",
            Market::UsdM => "https://testnet.binancefuture.com",
        }
    }

    /// Binance itself, where orders move real money.
    pub fn mainnet_url(self) -> &'static str {
        match self {
            Market::Spot => "https://api.binance.com",
            Market::UsdM => "https://fapi.binance.com",
        }
    }

    /// What the market trades.
    pub fn instrument_kinds(self) -> &'static [InstrumentKind] {
        match self {
            Market::Spot => &[InstrumentKind::Spot],
            Market::UsdM => &[InstrumentKind::Perpetual],
        }
    }

    /// The trailing stops the market takes: spot's `trailingDelta` (its
    /// `TRAILING_DELTA` filter on most symbols: 0.1 % to 20 %, any whole
    /// basis point), USDⓈ-M's `callbackRate` (0.1 % to 10 %, in steps of
    /// 0.1 %).
    pub fn native_trailing(self) -> NativeTrailing {
        match self {
            Market::Spot => NativeTrailing {
                bips: 10..=2000,
                step: 1,
            },
            Market::UsdM => NativeTrailing {
                bips: 10..=1000,
                step: 10,
            },
        }
    }

    pub(super) fn paths(self) -> &'static Paths {
        match self {
            Market::Spot => &SPOT_PATHS,
            Market::UsdM => &USDM_PATHS,
        }
    }
}
