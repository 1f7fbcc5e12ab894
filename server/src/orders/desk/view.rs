//! What the desk's gauges show: the positions and open orders of every
//! replica as last read from the store. Gauges are read at scrape time and
//! cannot wait on the store, so the keeper reads them again every tick.

use std::sync::{Arc, Mutex};

use super::OrderDesk;
use crate::{market::position::Position, model::order::Order, store::StoreError};

/// The positions and open orders as last read.
#[derive(Default)]
pub struct DeskView {
    /// (pipeline id, symbol, position).
    pub positions: Vec<(String, String, Position)>,
    pub open: Vec<Order>,
}

/// The latest [`DeskView`], swapped whole.
pub(super) type SharedView = Mutex<Arc<DeskView>>;

impl OrderDesk {
    /// Reads the positions and open orders again for [`OrderDesk::view`],
    /// and answers them.
    pub async fn refresh_view(&self) -> Result<Arc<DeskView>, StoreError> {
        let view = Arc::new(DeskView {
            positions: self.positions().await?,
            open: self.open_orders().await?,
        });
        if let Ok(mut shown) = self.view.lock() {
            *shown = view.clone();
        }
        Ok(view)
    }

    /// The positions and open orders as last read.
    pub fn view(&self) -> Arc<DeskView> {
        self.view
            .lock()
            .map(|view| view.clone())
            .unwrap_or_default()
    }
}
