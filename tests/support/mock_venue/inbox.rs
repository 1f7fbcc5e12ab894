//! What a receiver mock (a webhook, a bot API) keeps of what it was sent:
//! the messages it took, why it refused others, and the wait it asked for
//! after a 429, with the requests that came before that wait was over.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Mock, Venue};

/// A receiver's record of its requests.
#[derive(Default)]
pub struct Inbox {
    messages: Vec<Value>,
    refusals: Vec<String>,
    held_until: Option<Instant>,
    early: u32,
}

impl Inbox {
    /// Takes a message that passed every check.
    pub fn take(&mut self, message: Value) {
        self.messages.push(message);
    }

    /// How many messages were taken.
    pub fn taken(&self) -> usize {
        self.messages.len()
    }

    /// Notes why a request was refused as malformed.
    pub fn refuse(&mut self, why: String) {
        self.refusals.push(why);
    }

    /// Asks senders to wait `wait` from now.
    pub fn hold(&mut self, wait: Duration) {
        self.held_until = Some(Instant::now() + wait);
    }

    /// What is left of the wait at `now`, counting the request as early,
    /// or `None` when no wait is on.
    pub fn early(&mut self, now: Instant) -> Option<Duration> {
        let until = self.held_until.filter(|until| *until > now)?;
        self.early += 1;
        Some(until - now)
    }

    /// Counts a request that came while a limit was spent.
    pub fn count_early(&mut self) {
        self.early += 1;
    }
}

/// A mock whose state keeps an [`Inbox`].
pub trait Receiver: Venue {
    /// The state's inbox.
    fn inbox(&mut self) -> &mut Inbox;
}

impl<S: Receiver> Mock<S> {
    /// The bodies of the messages taken, oldest first.
    pub fn messages(&self) -> Vec<Value> {
        self.with(|s| s.inbox().messages.clone())
    }

    /// Why requests were refused as malformed, oldest first.
    pub fn refusals(&self) -> Vec<String> {
        self.with(|s| s.inbox().refusals.clone())
    }

    /// Requests sent before a wait the receiver asked for was over.
    pub fn early_requests(&self) -> u32 {
        self.with(|s| s.inbox().early)
    }
}
