//! What every List and Watch RPC shares: page sizes, page tokens, and live
//! streams fed by a broadcast channel, where a slow watcher skips ahead
//! (and is told how many it missed) instead of slowing the producer.

use std::pin::Pin;

use futures::{Stream, StreamExt};
use tokio::sync::broadcast;
use tokio_stream::wrappers::{BroadcastStream, errors::BroadcastStreamRecvError};
use tokio_util::sync::CancellationToken;
use tonic::Status;

use crate::{api_error::ApiError, proto_time::checked_timestamp_ms};

/// A server-streaming response body.
pub type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// The page size of a List request: `0` means `default`, larger than
/// `max` means `max`, negative is refused.
pub fn page_size(requested: i32, default: u32, max: u32) -> Result<u32, ApiError> {
    match requested {
        0 => Ok(default),
        n if n < 0 => Err(ApiError::invalid_field(
            "INVALID_PAGE_SIZE",
            "page_size",
            "must not be negative",
        )),
        n => Ok((n as u32).min(max)),
    }
}

/// The error for a page token this server did not hand out.
pub fn invalid_page_token() -> ApiError {
    ApiError::invalid_field(
        "INVALID_PAGE_TOKEN",
        "page_token",
        "is not a token from a previous page",
    )
}

/// Cuts `items` (fetched with one extra) to `page_size` and returns the
/// next page's token, made from the last item kept; empty on the last page.
pub fn next_page<T>(items: &mut Vec<T>, page_size: u32, token: impl Fn(&T) -> String) -> String {
    if items.len() <= page_size as usize {
        return String::new();
    }
    items.truncate(page_size as usize);
    items.last().map(token).unwrap_or_default()
}

/// What a watch stream reads: this replica's changes, and those other
/// replicas made (relayed from the database's notices).
pub struct Feed<T> {
    local: broadcast::Receiver<T>,
    relayed: broadcast::Receiver<T>,
}

/// Changes other replicas made, for watch streams only: this replica's
/// own consumers (the keeper, the price feed) never see them.
pub struct Relay<T>(broadcast::Sender<T>);

impl<T: Clone> Relay<T> {
    /// A relay that holds up to `capacity` items for a slow stream.
    pub fn new(capacity: usize) -> Self {
        Self(broadcast::channel(capacity).0)
    }

    /// Whether a watch stream is open to see a relayed item.
    pub fn is_watched(&self) -> bool {
        self.0.receiver_count() > 0
    }

    /// Hands `item` to the open watch streams.
    pub fn send(&self, item: T) {
        let _ = self.0.send(item);
    }

    /// A watch stream's feed: `local` and this relay.
    pub fn feed_with(&self, local: broadcast::Receiver<T>) -> Feed<T> {
        Feed {
            local,
            relayed: self.0.subscribe(),
        }
    }
}

/// A live stream of the items of `feed` that `keep` accepts, each turned
/// into a response by `respond(item, missed)`; it ends with `end`.
pub fn watch<T, R>(
    feed: Feed<T>,
    keep: impl Fn(&T) -> bool + Send + 'static,
    respond: impl Fn(T, u64) -> R + Send + 'static,
    end: CancellationToken,
) -> BoxStream<R>
where
    T: Clone + Send + 'static,
    R: Send + 'static,
{
    let mut missed = 0u64;
    let items = futures::stream::select(
        BroadcastStream::new(feed.local),
        BroadcastStream::new(feed.relayed),
    );
    let stream = items.filter_map(move |item| {
        let response = match item {
            Ok(item) if keep(&item) => {
                let response = respond(item, missed);
                missed = 0;
                Some(Ok(response))
            }
            Ok(_) => None,
            Err(BroadcastStreamRecvError::Lagged(skipped)) => {
                missed += skipped;
                None
            }
        };
        std::future::ready(response)
    });
    Box::pin(stream.take_until(end.cancelled_owned()))
}

/// The time filter `field` of a list request, checked.
pub fn filter_time(
    ts: Option<&prost_types::Timestamp>,
    field: &str,
) -> Result<Option<i64>, ApiError> {
    ts.map(|ts| {
        checked_timestamp_ms(ts)
            .map_err(|why| ApiError::invalid_field("INVALID_TIMESTAMP", field, why))
    })
    .transpose()
}
