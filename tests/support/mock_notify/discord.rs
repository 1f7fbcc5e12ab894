//! A mock Discord webhook on the fault core. It checks what Discord
//! checks (the webhook's id and token in the path, the JSON content type,
//! the body's shape and Discord's length limits) and what the channel
//! promises (`?wait=true`, no mention parsing); keeps Discord's
//! per-webhook bucket (`X-RateLimit-*` headers on every answer, and a 429
//! with a JSON `retry_after` to a request sent into a spent bucket or
//! before a 429's wait is over, counted as early); records the messages;
//! and fails the next requests on demand (5xx, 429, or any fault of the
//! core on `Route::PlaceOrder`).

use std::{
    collections::VecDeque,
    time::{Duration, Instant},
};

use serde_json::{Value, json};

use crate::mock_venue::{
    Answer, Faults, Inbox, Mock, Receiver, Request, Route, Trouble, Venue, answer,
};

/// The webhook's id, in its URL.
pub const WEBHOOK_ID: &str = "1180000000000000042";
/// The webhook's token, in its URL: the secret.
pub const WEBHOOK_TOKEN: &str = "dWebhookT0ken-s3cret_42";

/// What the next request gets instead of being processed.
#[derive(Debug, Clone, Copy)]
pub enum Failure {
    /// HTTP 500.
    ServerError,
    /// HTTP 429 with this `retry_after` (seconds, with a fraction); any
    /// request before it is over is refused again and counted as early.
    RateLimited { retry_after: f64, global: bool },
}

/// The webhook's state: what it received and what it will do next.
pub struct DiscordState {
    inbox: Inbox,
    failures: VecDeque<Failure>,
    bucket_limit: u32,
    bucket_window: Duration,
    window_start: Instant,
    used: u32,
    faults: Faults,
}

/// A mock Discord webhook on a loopback port; it stops when dropped.
pub type MockDiscord = Mock<DiscordState>;

impl MockDiscord {
    /// A webhook whose bucket allows 5 requests every 2 s, as Discord's do.
    pub async fn start() -> Self {
        Self::serve(DiscordState {
            inbox: Inbox::default(),
            failures: VecDeque::new(),
            bucket_limit: 5,
            bucket_window: Duration::from_secs(2),
            window_start: Instant::now(),
            used: 0,
            faults: Faults::default(),
        })
        .await
    }

    /// The webhook's full URL, token and all.
    pub fn webhook_url(&self) -> String {
        format!("{}/api/webhooks/{WEBHOOK_ID}/{WEBHOOK_TOKEN}", self.url)
    }

    /// Lets `limit` requests through every `window`, starting now.
    pub fn set_bucket(&self, limit: u32, window: Duration) {
        self.with(|s| {
            s.bucket_limit = limit;
            s.bucket_window = window;
            s.window_start = Instant::now();
            s.used = 0;
        });
    }

    /// Fails the next `count` requests with `failure`.
    pub fn fail_requests(&self, count: usize, failure: Failure) {
        self.with(|s| s.failures.extend(std::iter::repeat_n(failure, count)));
    }
}

impl DiscordState {
    /// The 429 for a request before `until`, or `None` when it may pass
    /// the gate (it is then counted in the bucket).
    fn gate(&mut self, now: Instant) -> Option<Answer> {
        if let Some(left) = self.inbox.early(now) {
            return Some(too_many(left, false));
        }
        if now >= self.window_start + self.bucket_window {
            self.window_start = now;
            self.used = 0;
        }
        if self.used >= self.bucket_limit {
            self.inbox.count_early();
            let left = (self.window_start + self.bucket_window).saturating_duration_since(now);
            return Some(too_many(left, false));
        }
        self.used += 1;
        None
    }

    /// Discord's bucket headers, as every answer past the gate has them.
    fn bucket_headers(&self, now: Instant) -> Vec<(&'static str, String)> {
        let left = (self.window_start + self.bucket_window).saturating_duration_since(now);
        vec![
            ("X-RateLimit-Limit", self.bucket_limit.to_string()),
            (
                "X-RateLimit-Remaining",
                self.bucket_limit.saturating_sub(self.used).to_string(),
            ),
            (
                "X-RateLimit-Reset-After",
                format!("{:.3}", left.as_secs_f64()),
            ),
            ("X-RateLimit-Bucket", "mock-webhook-bucket".into()),
        ]
    }

    /// Processes a request past the gate.
    fn process(&mut self, request: &Request) -> Answer {
        if let Some(failure) = self.failures.pop_front() {
            return match failure {
                Failure::ServerError => self.trouble(Trouble::Internal),
                Failure::RateLimited {
                    retry_after,
                    global,
                } => {
                    let wait = Duration::from_secs_f64(retry_after);
                    self.inbox.hold(wait);
                    too_many(wait, global)
                }
            };
        }
        if !request.query.split('&').any(|pair| pair == "wait=true") {
            return self.refuse("the channel promised ?wait=true".into());
        }
        if !request
            .header("content-type")
            .is_some_and(|t| t.starts_with("application/json"))
        {
            self.inbox.refuse("not JSON".into());
            return error(400, 50006, "Cannot send an empty message");
        }
        let body: Value = match serde_json::from_str(&request.body) {
            Ok(body) => body,
            Err(e) => return self.refuse(format!("unreadable JSON: {e}")),
        };
        if let Err(why) = check_shape(&body) {
            return self.refuse(why);
        }
        self.inbox.take(body.clone());
        answer(
            200,
            json!({
                "id": (1_200_000_000_000_000_000u64 + self.inbox.taken() as u64).to_string(),
                "webhook_id": WEBHOOK_ID,
                "content": body["content"],
                "embeds": body["embeds"],
            }),
        )
    }

    fn refuse(&mut self, why: String) -> Answer {
        self.inbox.refuse(why.clone());
        answer(
            400,
            json!({"code": 50035, "message": "Invalid Form Body", "errors": {"_errors": [why]}}),
        )
    }
}

/// Checks the body the way Discord does, and that mentions are off.
fn check_shape(body: &Value) -> Result<(), String> {
    let content = body["content"].as_str().unwrap_or_default();
    if content.chars().count() > 2000 {
        return Err("content over 2000 characters".into());
    }
    if body["allowed_mentions"] != json!({"parse": []}) {
        return Err("allowed_mentions must parse nothing".into());
    }
    let embeds = body["embeds"].as_array().cloned().unwrap_or_default();
    if (content.is_empty() && embeds.is_empty()) || embeds.len() > 10 {
        return Err("no content and no embeds, or over 10 embeds".into());
    }
    for embed in &embeds {
        let title = embed["title"].as_str().ok_or("an embed without a title")?;
        let description = embed["description"]
            .as_str()
            .ok_or("an embed without text")?;
        if title.chars().count() > 256 || description.chars().count() > 4096 {
            return Err("an embed over its limits".into());
        }
        if embed["color"].as_u64().is_none_or(|c| c > 0xFF_FFFF) {
            return Err("an embed colour that is not an RGB integer".into());
        }
        let stamp = embed["timestamp"].as_str().unwrap_or_default();
        chrono::DateTime::parse_from_rfc3339(stamp)
            .map_err(|_| format!("an embed timestamp that is not ISO 8601: {stamp:?}"))?;
    }
    Ok(())
}

/// Discord's 429: a JSON `retry_after` with a fraction, and the header
/// rounded up to whole seconds.
fn too_many(wait: Duration, global: bool) -> Answer {
    let mut refused = answer(
        429,
        json!({
            "message": "You are being rate limited.",
            "retry_after": wait.as_secs_f64(),
            "global": global,
        }),
    );
    refused
        .headers
        .push(("Retry-After", wait.as_secs_f64().ceil().to_string()));
    refused.headers.push((
        "X-RateLimit-Scope",
        if global { "global" } else { "user" }.into(),
    ));
    refused
}

/// Discord's error body.
fn error(status: u16, code: u32, message: &str) -> Answer {
    answer(status, json!({"code": code, "message": message}))
}

impl Receiver for DiscordState {
    fn inbox(&mut self) -> &mut Inbox {
        &mut self.inbox
    }
}

impl Venue for DiscordState {
    fn route(&self, _request: &Request) -> Option<Route> {
        Some(Route::PlaceOrder)
    }

    fn handle(&mut self, request: &Request) -> Answer {
        let Some(rest) = request.path.strip_prefix("/api/webhooks/") else {
            return error(404, 0, "404: Not Found");
        };
        let (id, token) = rest.split_once('/').unwrap_or((rest, ""));
        if id != WEBHOOK_ID {
            return error(404, 10015, "Unknown Webhook");
        }
        if token != WEBHOOK_TOKEN {
            return error(401, 50027, "Invalid Webhook Token");
        }
        if request.method != "POST" {
            return error(405, 0, "405: Method Not Allowed");
        }
        let now = Instant::now();
        if let Some(refused) = self.gate(now) {
            return refused;
        }
        let mut processed = self.process(request);
        processed.headers.extend(self.bucket_headers(now));
        processed
    }

    fn trouble(&self, trouble: Trouble) -> Answer {
        match trouble {
            Trouble::Throttled(secs) | Trouble::Banned(secs) => {
                too_many(Duration::from_secs(secs), false)
            }
            Trouble::Internal | Trouble::BackendTimeout => {
                error(500, 0, "500: Internal Server Error")
            }
        }
    }

    fn faults(&mut self) -> &mut Faults {
        &mut self.faults
    }
}
