//! What a pipeline holds as its venue can trade it: the book's position
//! with dust below the lot read as flat. A venue that takes its fee in
//! the asset bought leaves such dust behind every round trip.

use super::{Pipelines, spec::Compiled};
use crate::{market::position::Position, orders::exchanges::tradable_position, store::StoreError};

impl Pipelines {
    /// The pipeline's position in `symbol`, its quantity rounded toward
    /// flat to the venue's lot. When the venue's rules cannot be read, the
    /// book's quantity as it is (a protective order for dust is refused
    /// by the desk; one missing for a real position is not).
    pub(super) async fn held(
        &self,
        compiled: &Compiled,
        symbol: &str,
    ) -> Result<Position, StoreError> {
        let mut position = self.desk.position(&compiled.id, symbol).await?;
        let rules = match self.desk.exchange(&compiled.exchange, &compiled.account) {
            Ok(exchange) => exchange.rules(symbol).await.map_err(|e| e.to_string()),
            Err(err) => Err(err.to_string()),
        };
        match rules {
            Ok(rules) => position.quantity = tradable_position(position.quantity, &rules),
            Err(err) => {
                tracing::warn!(pipeline = %compiled.name, symbol, error = %err, "lot size unknown: the position is read unrounded");
            }
        }
        Ok(position)
    }
}
