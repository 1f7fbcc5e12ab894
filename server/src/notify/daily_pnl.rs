//! The figures of a daily P&L summary, from the desk's book: each
//! pipeline's realised profit, fees and fills in the window per account
//! and quote currency, the open positions, and totals by currency. They
//! travel as the audit event's detail (JSON, decimals as strings) and are
//! read back to tell a trader.

use std::collections::{BTreeMap, HashMap};

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::telegram_reports::{name_of, names};
use crate::{
    market::position::DAY_MS,
    orders::desk::{Held, OrderDesk, Traded},
    pipelines::Pipelines,
    store::StoreError,
};

/// Most pipeline and position lines a summary's text lists.
const MOST_LINES: usize = 20;

/// A daily summary's figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DailyPnl {
    /// `start/end`, RFC 3339 UTC (the audit event's target).
    pub window: String,
    /// The UTC date the window ends in (its last moment's).
    pub date: String,
    /// Each pipeline's trading, per account and quote currency.
    pub pipelines: Vec<Named<Traded>>,
    /// The open positions at the time of the summary.
    pub positions: Vec<Named<Held>>,
    /// By currency.
    pub totals: BTreeMap<String, Total>,
}

/// Figures of one pipeline, by its name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Named<T> {
    pub pipeline: String,
    #[serde(flatten)]
    pub figures: T,
}

/// What the window realised and paid in fees in one currency.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Total {
    pub realized: Decimal,
    pub fees: Decimal,
}

impl DailyPnl {
    /// The figures of `window`, the 24 hours ending at `end_ms`.
    pub async fn gather(
        desk: &OrderDesk,
        pipelines: &Pipelines,
        window: &str,
        end_ms: i64,
    ) -> Result<Self, StoreError> {
        let book = desk.window_book(end_ms - DAY_MS, end_ms).await?;
        let names = names(pipelines);
        let mut totals: BTreeMap<String, Total> = BTreeMap::new();
        for traded in &book.traded {
            totals.entry(traded.quote.clone()).or_default().realized += traded.realized;
            for (asset, fee) in &traded.fees {
                totals.entry(asset.clone()).or_default().fees += fee;
            }
        }
        Ok(Self {
            window: window.to_string(),
            date: chrono::DateTime::from_timestamp_millis(end_ms - 1)
                .map(|time| time.date_naive().to_string())
                .unwrap_or_default(),
            pipelines: named(&names, book.traded, |traded| &traded.pipeline_id),
            positions: named(&names, book.held, |held| &held.pipeline_id),
            totals,
        })
    }

    /// The figures an audit event's detail carries, if it carries them.
    pub fn read(detail: &str) -> Option<Self> {
        serde_json::from_str(detail).ok()
    }

    /// The summary's title.
    pub fn title(&self) -> String {
        format!("Daily P&L {}", self.date)
    }

    /// A few lines a trader reads on a phone: the totals, each
    /// pipeline's figures, and the open positions.
    pub fn text(&self) -> String {
        let mut lines = Vec::new();
        if self.totals.is_empty() {
            lines.push("No fills.".to_string());
        }
        for (currency, total) in &self.totals {
            lines.push(format!(
                "Total {currency}: realised {}, fees {}",
                shown(total.realized),
                shown(total.fees)
            ));
        }
        let mut details: Vec<String> = self
            .pipelines
            .iter()
            .map(|Named { pipeline, figures }| {
                let fees = figures
                    .fees
                    .iter()
                    .map(|(asset, fee)| format!("{} {asset}", shown(*fee)))
                    .collect::<Vec<_>>();
                let fees = match fees.is_empty() {
                    true => String::new(),
                    false => format!(", fees {}", fees.join(" + ")),
                };
                format!(
                    "{} on {}: {} {}, {} fills{fees}",
                    pipeline,
                    figures.account,
                    shown(figures.realized),
                    figures.quote,
                    figures.fills
                )
            })
            .collect();
        details.extend(self.positions.iter().map(|Named { pipeline, figures }| {
            format!(
                "Open: {pipeline} {} {} at {}",
                figures.symbol,
                shown(figures.quantity),
                shown(figures.average_cost)
            )
        }));
        let more = details.len().saturating_sub(MOST_LINES);
        details.truncate(MOST_LINES);
        lines.extend(details);
        if more > 0 {
            lines.push(format!("… and {more} more"));
        }
        lines.join("\n")
    }
}

/// Each of `rows` under the name of its pipeline (`id` reads its id).
fn named<T>(
    names: &HashMap<String, String>,
    rows: Vec<T>,
    id: impl Fn(&T) -> &String,
) -> Vec<Named<T>> {
    rows.into_iter()
        .map(|figures| Named {
            pipeline: name_of(names, id(&figures)),
            figures,
        })
        .collect()
}

/// A figure as a trader reads it: at most 8 decimals, no trailing zeros.
fn shown(value: Decimal) -> String {
    value.round_dp(8).normalize().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> Decimal {
        text.parse().unwrap()
    }

    #[test]
    fn the_figures_read_back_and_read_on_a_phone() {
        let figures = DailyPnl {
            window: "2026-12-04T00:00:00Z/2026-12-05T00:00:00Z".into(),
            date: "2026-12-04".into(),
            pipelines: vec![Named {
                pipeline: "swing".into(),
                figures: Traded {
                    pipeline_id: "p-1".into(),
                    account: "paper/default".into(),
                    quote: "USDT".into(),
                    realized: d("200.50"),
                    fees: [("USDT".to_string(), d("0.6"))].into(),
                    fills: 2,
                },
            }],
            positions: vec![Named {
                pipeline: "swing".into(),
                figures: Held {
                    pipeline_id: "p-1".into(),
                    account: "paper/default".into(),
                    symbol: "ETH/USDT".into(),
                    quantity: d("-0.5"),
                    average_cost: d("3000.000000000001"),
                },
            }],
            totals: [(
                "USDT".to_string(),
                Total {
                    realized: d("200.50"),
                    fees: d("0.6"),
                },
            )]
            .into(),
        };
        let detail = serde_json::to_string(&figures).unwrap();
        assert!(detail.contains(r#""realized":"200.50""#), "{detail}");
        assert!(!detail.contains("p-1"), "names, not ids: {detail}");
        let read = DailyPnl::read(&detail).expect("the figures read back");
        assert_eq!(read.pipelines[0].figures.realized, d("200.50"));
        assert_eq!(read.text(), figures.text());
        assert_eq!(figures.title(), "Daily P&L 2026-12-04");
        assert_eq!(
            figures.text(),
            "Total USDT: realised 200.5, fees 0.6\n\
             swing on paper/default: 200.5 USDT, 2 fills, fees 0.6 USDT\n\
             Open: swing ETH/USDT -0.5 at 3000"
        );
        assert_eq!(DailyPnl::default().text(), "No fills.");
        assert_eq!(DailyPnl::read("not json"), None);
    }
}
