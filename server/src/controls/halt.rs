//! The trading halt (kill switch): a persisted flag that the order path
//! checks before anything leaves the process.

use std::sync::{
    RwLock,
    atomic::{AtomicBool, Ordering},
};

use serde::{Deserialize, Serialize};
use tradeplane_api::TradingStatus;

use crate::proto_time::ms_to_timestamp;

/// The persisted halt state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HaltState {
    pub halted: bool,
    pub reason: String,
    pub actor: String,
    pub change_ms: i64,
}

/// The halt flag.
pub struct TradingHalt {
    halted: AtomicBool,
    state: RwLock<HaltState>,
}

impl TradingHalt {
    /// As stored, or running when nothing was stored.
    pub fn new(stored: Option<HaltState>) -> Self {
        let state = stored.unwrap_or_default();
        Self {
            halted: AtomicBool::new(state.halted),
            state: RwLock::new(state),
        }
    }

    /// Whether trading is halted (one atomic load).
    pub fn is_halted(&self) -> bool {
        self.halted.load(Ordering::Acquire)
    }

    /// The state in force.
    pub fn state(&self) -> HaltState {
        self.state.read().map(|s| s.clone()).unwrap_or_default()
    }

    /// Applies a state that has been persisted.
    pub fn apply(&self, state: HaltState) {
        self.halted.store(state.halted, Ordering::Release);
        if let Ok(mut current) = self.state.write() {
            *current = state;
        }
    }
}

impl From<HaltState> for TradingStatus {
    fn from(state: HaltState) -> Self {
        TradingStatus {
            halted: state.halted,
            reason: state.reason,
            actor: state.actor,
            change_time: (state.change_ms > 0).then(|| ms_to_timestamp(state.change_ms)),
        }
    }
}
