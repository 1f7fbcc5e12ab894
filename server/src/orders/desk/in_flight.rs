//! Placements under way in this process, by client order id. The sync
//! leaves such an order to its placement, however long that takes (a
//! lookup after an unknown outcome waits out the venue's window), instead
//! of sending it again beside it.

use std::{collections::HashSet, sync::Mutex};

/// The client order ids being placed.
#[derive(Default)]
pub(super) struct InFlight(Mutex<HashSet<String>>);

/// Orders being placed, until dropped.
pub(super) struct Sending<'a> {
    set: &'a InFlight,
    ids: Vec<String>,
}

impl InFlight {
    /// Marks `ids` as being placed until the guard is dropped.
    pub(super) fn begin<'a>(&'a self, ids: impl IntoIterator<Item = String>) -> Sending<'a> {
        let ids: Vec<String> = ids.into_iter().collect();
        if let Ok(mut set) = self.0.lock() {
            set.extend(ids.iter().cloned());
        }
        Sending { set: self, ids }
    }

    /// Whether `client_order_id` is being placed.
    pub(super) fn contains(&self, client_order_id: &str) -> bool {
        self.0
            .lock()
            .map(|set| set.contains(client_order_id))
            .unwrap_or(false)
    }
}

impl Drop for Sending<'_> {
    fn drop(&mut self) {
        if let Ok(mut set) = self.set.0.lock() {
            for id in &self.ids {
                set.remove(id);
            }
        }
    }
}
