//! The pipelines' positions as the desk books them, and their resync
//! with a venue: the book takes the venue's figure, saved and audited.

use rust_decimal::Decimal;
use tradeplane_api::AuditOutcome;

use super::OrderDesk;
use crate::{
    audit::{AuditEntry, actions},
    market::position::Position,
    store::StoreError,
};

impl OrderDesk {
    /// Every pipeline's position in every symbol: (pipeline id, symbol,
    /// position).
    pub fn positions(&self) -> Vec<(String, String, Position)> {
        self.ledger
            .lock()
            .map(|ledger| {
                ledger
                    .positions()
                    .map(|((pipeline, symbol), position)| {
                        (pipeline.clone(), symbol.clone(), *position)
                    })
                    .collect()
            })
            .unwrap_or_default()
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
        let snapshot = match self.ledger.lock() {
            Ok(mut ledger) => ledger.set_quantity(pipeline_id, symbol, quantity),
            Err(_) => return Err(StoreError::Unavailable("the ledger is poisoned".into())),
        };
        self.store.save_snapshots(&[snapshot]).await?;
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
