//! Exactly-once placement, written once for every signed-REST venue. An
//! order request whose outcome is unknown (a timeout, a dropped
//! connection, a 5xx, a backend timeout) is never sent again blindly: the
//! order is looked up by its client order id, and "no such order" counts
//! only once the venue can no longer accept the request (its timestamp
//! plus the receive window plus [`SETTLE_MARGIN`] on the venue's clock).
//! Only then is it sent again, with the same client order id. A venue
//! brings its transport (`send`) and its lookup ([`LookUp`]).

use std::{future::Future, time::Duration};

use async_trait::async_trait;

use super::{ExchangeError, ExchangeOrder, OrderTicket};

/// Beyond the receive window, the slack allowed for clock uncertainty and
/// for the matching engine to finish a request the gateway accepted.
pub const SETTLE_MARGIN: Duration = Duration::from_secs(2);
/// Times one order is sent at most (each only after the last is known not
/// to have been placed, or was refused unseen).
const MAX_SENDS: u32 = 3;
/// Lookups of an order whose placement outcome is unknown.
const MAX_LOOKUPS: u32 = 5;

/// What one send of an order came to.
#[derive(Debug)]
pub enum Sent {
    /// Accepted: its view when the answer holds a whole one, else `None`
    /// and it is looked up.
    Placed(Option<ExchangeOrder>),
    /// No usable answer: it may or may not have been placed.
    Unknown(String),
    /// Refused as a duplicate of its client order id: an earlier send
    /// placed it.
    Duplicate(String),
    /// Not processed; it may go again after this wait, or else fails with
    /// the venue's own reason.
    Throttled(Duration, ExchangeError),
    /// Refused for good, or not sent.
    Failed(ExchangeError),
}

/// A venue's side of exactly-once placement.
#[async_trait]
pub trait LookUp: Sync {
    /// The venue's name, for messages.
    fn venue(&self) -> &str;
    /// The order under the ticket's client order id, if the venue has it.
    async fn look_up(&self, ticket: &OrderTicket) -> Result<Option<ExchangeOrder>, ExchangeError>;
    /// Now, on the venue's clock as far as it is known.
    fn venue_now_ms(&self) -> i64;
    /// How long after its timestamp the venue may still accept a request.
    fn window_ms(&self) -> i64;
    /// The longest throttling wait a placement sits out.
    fn max_retry_wait(&self) -> Duration;
}

/// Places `ticket` with `send` (one request; it returns the request's
/// timestamp on the venue's clock and what came of it), looking up any
/// whose outcome is unknown before sending it again.
pub async fn place_exactly_once<V, S, F>(
    venue: &V,
    ticket: &OrderTicket,
    send: S,
) -> Result<ExchangeOrder, ExchangeError>
where
    V: LookUp + ?Sized,
    S: Fn() -> F,
    F: Future<Output = (i64, Sent)>,
{
    for sends in 1..=MAX_SENDS {
        let (timestamp, sent) = send().await;
        match sent {
            Sent::Placed(Some(view)) => return Ok(view),
            // Placed: if it cannot be read now, the desk marks it unknown
            // and the next sync completes it.
            Sent::Placed(None) => {
                return match venue.look_up(ticket).await {
                    Ok(Some(view)) => Ok(view),
                    Ok(None) => Err(ExchangeError::Unknown(format!(
                        "{} accepted it but does not show it yet",
                        venue.venue()
                    ))),
                    Err(err) => Err(ExchangeError::Unknown(format!("placed; {err}"))),
                };
            }
            Sent::Unknown(why) => {
                tracing::warn!(client_order_id = %ticket.client_order_id, %why, "order outcome unknown; looking it up");
                if let Some(view) = settle(venue, ticket, timestamp).await? {
                    return Ok(view);
                }
                if sends == MAX_SENDS {
                    return Err(ExchangeError::Unavailable(format!(
                        "not placed after {sends} attempts: {why}"
                    )));
                }
            }
            // An open order already has this client order id: it is this
            // order, placed by an earlier attempt.
            Sent::Duplicate(message) => {
                return match venue.look_up(ticket).await {
                    Ok(Some(view)) => Ok(view),
                    Ok(None) => Err(ExchangeError::Unknown(message)),
                    Err(err) => Err(ExchangeError::Unknown(err.to_string())),
                };
            }
            Sent::Throttled(wait, _) if wait <= venue.max_retry_wait() && sends < MAX_SENDS => {
                tokio::time::sleep(wait).await;
            }
            Sent::Throttled(_, err) => return Err(err),
            Sent::Failed(err) => return Err(err),
        }
    }
    Err(ExchangeError::Unavailable(format!(
        "not placed after {MAX_SENDS} attempts"
    )))
}

/// Looks up an order whose placement outcome is unknown. `None` means it
/// was not placed and the request sent at `sent_timestamp` can no longer
/// place it.
async fn settle<V: LookUp + ?Sized>(
    venue: &V,
    ticket: &OrderTicket,
    sent_timestamp: i64,
) -> Result<Option<ExchangeOrder>, ExchangeError> {
    let margin = i64::try_from(SETTLE_MARGIN.as_millis()).unwrap_or(2_000);
    let final_after = sent_timestamp + venue.window_ms() + margin;
    let mut last_error = String::new();
    for attempt in 0..MAX_LOOKUPS {
        let wait = match venue.look_up(ticket).await {
            Ok(Some(view)) => return Ok(Some(view)),
            Ok(None) => match u64::try_from(final_after - venue.venue_now_ms()) {
                Ok(left) if left > 0 => Duration::from_millis(left),
                _ => return Ok(None),
            },
            Err(err) => {
                last_error = err.to_string();
                Duration::from_millis(200 << attempt)
            }
        };
        tokio::time::sleep(wait).await;
    }
    Err(ExchangeError::Unknown(format!(
        "sent, but no lookup could tell whether {} placed it: {last_error}",
        venue.venue()
    )))
}
