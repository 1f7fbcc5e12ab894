//! A mock venue running on the fault core, and what every mock offers its
//! tests alike: queued faults and, for a venue that takes orders
//! ([`MockState`]), its orders by client order id, its clock and the
//! signatures it refused. A mock names its handle
//! `pub type MockX = Mock<State>` and adds only its own accessors.

use std::sync::{Arc, Mutex};

use super::{Fault, Route, Server, Venue};

/// What a mock venue's state keeps alike.
pub trait MockState: Venue {
    /// The venue's copy of an order.
    type Order: Clone;
    /// Every order the venue ever accepted, oldest first.
    fn orders(&self) -> &[Self::Order];
    /// The client order id an order carries.
    fn client_order_id(order: &Self::Order) -> &str;
    /// How far the venue's clock runs ahead of ours, in ms (negative:
    /// behind).
    fn clock_offset_ms(&mut self) -> &mut i64;
    /// Signed requests refused for a bad key, signature or timestamp.
    fn refused_signatures(&self) -> u64;
}

/// A mock venue on an ephemeral loopback port; it stops when dropped.
pub struct Mock<S> {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    state: Arc<Mutex<S>>,
    _server: Server,
}

impl<S: Venue> Mock<S> {
    /// Serves `state` on a new loopback port.
    pub async fn serve(state: S) -> Self {
        let state = Arc::new(Mutex::new(state));
        let server = Server::start(state.clone()).await;
        Self {
            url: server.url.clone(),
            state,
            _server: server,
        }
    }

    /// Runs `f` on the venue's state.
    pub fn with<T>(&self, f: impl FnOnce(&mut S) -> T) -> T {
        f(&mut self.state.lock().expect("mock state"))
    }

    /// Queues a fault for the next request on `route`.
    pub fn fail_next(&self, route: Route, fault: Fault) {
        self.with(|s| s.faults().push(route, fault));
    }
}

impl<S: MockState> Mock<S> {
    /// Sets how far the venue's clock runs ahead of ours (negative:
    /// behind).
    pub fn set_clock_offset(&self, ms: i64) {
        self.with(|s| *s.clock_offset_ms() = ms);
    }

    /// The latest order under `client_order_id`.
    pub fn order(&self, client_order_id: &str) -> Option<S::Order> {
        self.with(|s| {
            s.orders()
                .iter()
                .rev()
                .find(|o| S::client_order_id(o) == client_order_id)
                .cloned()
        })
    }

    /// Every order the venue ever accepted, oldest first.
    pub fn orders(&self) -> Vec<S::Order> {
        self.with(|s| s.orders().to_vec())
    }

    /// How many orders carry `client_order_id`.
    pub fn orders_with_client_id(&self, client_order_id: &str) -> usize {
        self.with(|s| {
            s.orders()
                .iter()
                .filter(|o| S::client_order_id(o) == client_order_id)
                .count()
        })
    }

    /// Signed requests the venue refused.
    pub fn refused_signatures(&self) -> u64 {
        self.with(|s| s.refused_signatures())
    }
}

/// Implements [`MockState`] for a mock's state whose fields `orders`,
/// `clock_offset_ms` and `refused_signatures` hold what the trait asks,
/// its orders of type `$order` under their client order id `$id`.
#[macro_export]
macro_rules! mock_state {
    ($state:ty, $order:ty, $id:ident) => {
        impl $crate::mock_venue::MockState for $state {
            type Order = $order;

            fn orders(&self) -> &[$order] {
                &self.orders
            }

            fn client_order_id(order: &$order) -> &str {
                &order.$id
            }

            fn clock_offset_ms(&mut self) -> &mut i64 {
                &mut self.clock_offset_ms
            }

            fn refused_signatures(&self) -> u64 {
                self.refused_signatures
            }
        }
    };
}
