//! Market hours: what an order for an instrument does while its market is
//! closed (stocks trade in sessions; crypto venues never close).

use crate::words::word_enum;

word_enum! {
    /// What a pipeline's order does while its market is closed
    /// (`order.outside_market_hours`).
    pub enum OutsideMarketHours {
        /// Not sent: the execution is skipped as `market_closed`.
        Refuse => "refuse",
        /// Sent as a day order the venue holds until the open.
        Queue => "queue",
    }
}
