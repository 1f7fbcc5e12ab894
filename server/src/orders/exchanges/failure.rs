//! How a request to a signed-REST venue can fail, alike for every venue,
//! and what each failure means for a placement and for the domain. A
//! venue's transport classifies its answers into a [`Failure`]; its
//! mapping adds only what its own error codes mean.

use std::time::Duration;

use super::{ExchangeError, exactly_once::Sent};

/// Why a request did not produce an answer we can use. "Not sent" is
/// never confused with "sent, outcome unknown".
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// The request never reached the venue (the connection failed, or we
    /// are still backing off): nothing happened there.
    NotSent(String),
    /// The request may have reached the venue but no usable answer came
    /// back (timeout, dropped connection, 5xx, the venue's own "backend
    /// timed out" codes): the outcome is unknown.
    NoAnswer(String),
    /// The venue throttled the request without processing it; retry
    /// after the wait.
    RateLimited { retry_after: Duration },
    /// The venue banned this address or froze the key: stop sending. The
    /// text says why and for how long.
    Banned(String),
    /// The venue refused the request with its own error code.
    Refused { code: i64, message: String },
}

impl Failure {
    /// As a domain error: the transport failures alike for every venue,
    /// the venue's own codes through `refusal`.
    pub fn into_error(
        self,
        venue: &str,
        refusal: impl FnOnce(i64, String) -> ExchangeError,
    ) -> ExchangeError {
        match self {
            Self::NotSent(why) => ExchangeError::Unavailable(why),
            Self::NoAnswer(why) => ExchangeError::Unknown(why),
            Self::RateLimited { retry_after } => ExchangeError::Unavailable(format!(
                "rate limited by {venue}; retry after {}",
                humantime::format_duration(retry_after)
            )),
            Self::Banned(why) => ExchangeError::Banned(why),
            Self::Refused { code, message } => refusal(code, message),
        }
    }

    /// The failure of a read (a lookup, balances): a read that went
    /// unanswered changed nothing, so it is unavailable, never unknown.
    pub fn into_read_error(
        self,
        order_error: impl FnOnce(Failure) -> ExchangeError,
    ) -> ExchangeError {
        match self {
            Self::NoAnswer(why) | Self::NotSent(why) => ExchangeError::Unavailable(why),
            other => order_error(other),
        }
    }

    /// What a failed placement attempt tells
    /// [`place_exactly_once`](super::exactly_once::place_exactly_once):
    /// `duplicate` recognises the venue's refusal of a client order id it
    /// already holds (an earlier attempt placed the order); `order_error`
    /// maps the rest.
    pub fn into_sent(
        self,
        duplicate: impl Fn(i64, &str) -> bool,
        order_error: impl FnOnce(Failure) -> ExchangeError,
    ) -> Sent {
        match self {
            Self::NoAnswer(why) => Sent::Unknown(why),
            Self::Refused { code, message } if duplicate(code, &message) => {
                Sent::Duplicate(message)
            }
            Self::RateLimited { retry_after } => {
                Sent::Throttled(retry_after, order_error(Self::RateLimited { retry_after }))
            }
            other => Sent::Failed(order_error(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(code: i64) -> Failure {
        Failure::Refused {
            code,
            message: "no".into(),
        }
    }

    fn rejected(failure: Failure) -> ExchangeError {
        failure.into_error("Venue", |code, _| ExchangeError::Rejected(code.to_string()))
    }

    #[test]
    fn an_unanswered_placement_is_unknown_but_an_unanswered_read_is_unavailable() {
        let lost = || Failure::NoAnswer("timeout".into());
        assert!(matches!(
            lost().into_sent(|_, _| false, rejected),
            Sent::Unknown(_)
        ));
        assert_eq!(
            lost().into_read_error(rejected),
            ExchangeError::Unavailable("timeout".into())
        );
        assert_eq!(rejected(lost()), ExchangeError::Unknown("timeout".into()));
    }

    #[test]
    fn a_placement_failure_is_a_duplicate_a_throttle_or_final() {
        let duplicate = |code, _: &str| code == 7;
        assert!(matches!(
            refused(7).into_sent(duplicate, rejected),
            Sent::Duplicate(_)
        ));
        assert!(matches!(
            refused(8).into_sent(duplicate, rejected),
            Sent::Failed(ExchangeError::Rejected(code)) if code == "8"
        ));
        let throttled = Failure::RateLimited {
            retry_after: Duration::from_secs(2),
        };
        assert!(matches!(
            throttled.into_sent(duplicate, rejected),
            Sent::Throttled(wait, ExchangeError::Unavailable(why))
                if wait == Duration::from_secs(2) && why == "rate limited by Venue; retry after 2s"
        ));
        assert_eq!(
            rejected(Failure::Banned("for 1m".into())),
            ExchangeError::Banned("for 1m".into())
        );
    }
}
