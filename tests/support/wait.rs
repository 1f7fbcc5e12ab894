//! Waiting for the server to get somewhere, without fixed sleeps.

use std::{
    future::Future,
    time::{Duration, Instant},
};

/// Runs `probe` every `every` until it gives `Ok`, and returns that value;
/// once `timeout` has passed, fails the test with the last `Err` text.
pub async fn eventually<T, F, Fut>(timeout: Duration, every: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        match probe().await {
            Ok(value) => return value,
            Err(why) => assert!(Instant::now() < deadline, "{why}"),
        }
        tokio::time::sleep(every).await;
    }
}
