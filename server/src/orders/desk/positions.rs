//! The pipelines' positions as the desk books them, and their resync
//! with a venue: the book takes the venue's figure, saved and audited.

use rust_decimal::Decimal;
use tradeplane_api::AuditOutcome;

use super::{OrderDesk, ledger};
use crate::{
    audit::{AuditEntry, actions},
    market::position::Position,
    store::StoreError,
};

impl OrderDesk {
    /// Every pipeline's position in every symbol: (pipeline id, symbol,
    /// position).
    pub async fn positions(&self) -> Result<Vec<(String, String, Position)>, StoreError> {
        ledger::positions(&*self.store, "").await
    }

    /// Sets the pipeline's booked quantity in `symbol` to what its venue
    /// holds; saved, then audited with `audit`'s actor and detail.
    pub async fn resync_position(
        &self,
        pipeline_id: &str,
        symbol: &str,
        quantity: Decimal,
        audit: AuditEntry,
    ) -> Result<(), StoreError> {
        ledger::set_quantity(&*self.store, pipeline_id, symbol, quantity).await?;
        self.audit
            .record_or_log(AuditEntry {
                action: actions::POSITION_RESYNC,
                target: format!("{pipeline_id}/{symbol}"),
                outcome: AuditOutcome::Success,
                ..audit
            })
            .await;
        Ok(())
    }
}
