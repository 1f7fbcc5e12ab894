//! Exits a venue attaches to an entry: Alpaca's bracket order, OKX's
//! attached TP/SL algo orders, Bybit's TP/SL on the position. The entry
//! carries its stop and target; the venue creates and links them when
//! the entry fills, so a position is never open at the venue without
//! its exits. The desk then adopts the exits the venue made instead of
//! placing any.

use rust_decimal::Decimal;

/// How an order is tied to exits the venue links for it.
#[derive(Debug, Clone, PartialEq)]
pub enum Attachment {
    /// An entry that carries its exits.
    Exits(AttachedExits),
    /// An exit the venue attached to the entry with this client order id.
    ExitOf(String),
}

/// The exits an entry carries to its venue.
#[derive(Debug, Clone, PartialEq)]
pub struct AttachedExits {
    /// The exits' one-cancels-the-other group, as their legs carry it
    /// (OKX keys the attached algo order by it).
    pub group: String,
    /// The stop-loss trigger price.
    pub stop_price: Decimal,
    /// The take-profit price.
    pub target_price: Decimal,
}

impl Attachment {
    /// The exits an entry carries; `None` on any other order.
    pub fn exits(attachment: &Option<Attachment>) -> Option<&AttachedExits> {
        match attachment {
            Some(Attachment::Exits(exits)) => Some(exits),
            _ => None,
        }
    }

    /// The client order id of the entry an exit was attached to; `None`
    /// on any other order.
    pub fn entry(attachment: &Option<Attachment>) -> Option<&str> {
        match attachment {
            Some(Attachment::ExitOf(entry)) => Some(entry),
            _ => None,
        }
    }
}
