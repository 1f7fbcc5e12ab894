//! A mock Slack incoming webhook on the fault core. It checks what Slack
//! checks (the team, bot and secret in the path, the JSON content type,
//! the blocks' shape and limits) and that `&`, `<` and `>` arrive escaped;
//! answers in Slack's words (`ok`, `invalid_payload`, `no_service`,
//! `channel_is_archived`...); records the messages; and fails the next
//! requests on demand.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::mock_venue::{
    Answer, Faults, Inbox, Mock, Receiver, Request, Route, Trouble, Venue, answer, retry_after,
};

/// The webhook's path below the base URL; its last segment is the secret.
pub const WEBHOOK_PATH: &str = "/services/T0MOCKTEAM/B0MOCKBOT/sl4ckS3cretW3bhook";

/// What the next request gets instead of being processed.
#[derive(Debug, Clone, Copy)]
pub enum Failure {
    /// HTTP 500.
    ServerError,
    /// HTTP 429 with `Retry-After` in whole seconds; any request before
    /// it is over is refused again and counted as early.
    RateLimited { retry_after_secs: u64 },
}

/// The webhook's state: what it received and what it will do next.
#[derive(Default)]
pub struct SlackState {
    inbox: Inbox,
    failures: Vec<Failure>,
    archived: bool,
    faults: Faults,
}

/// A mock Slack webhook on a loopback port; it stops when dropped.
pub type MockSlack = Mock<SlackState>;

impl MockSlack {
    /// A webhook that takes every well-formed message.
    pub async fn start() -> Self {
        Self::serve(SlackState::default()).await
    }

    /// The webhook's full URL, secret and all.
    pub fn webhook_url(&self) -> String {
        format!("{}{WEBHOOK_PATH}", self.url)
    }

    /// Fails the next `count` requests with `failure`.
    pub fn fail_requests(&self, count: usize, failure: Failure) {
        self.with(|s| s.failures.extend(std::iter::repeat_n(failure, count)));
    }

    /// Archives the webhook's channel: every message is refused with 410.
    pub fn archive_channel(&self) {
        self.with(|s| s.archived = true);
    }
}

impl SlackState {
    fn refuse(&mut self, error: &'static str, why: String) -> Answer {
        self.inbox.refuse(why);
        answer(400, Value::from(error))
    }
}

/// Checks the blocks the way Slack does, and that text is escaped.
fn check_shape(body: &Value) -> Result<(), String> {
    let text = body["text"].as_str().unwrap_or_default();
    if text.is_empty() {
        return Err("no fallback text".into());
    }
    let mut texts = vec![text];
    for block in body["blocks"].as_array().ok_or("no blocks")? {
        let (kind, limit) = match block["type"].as_str() {
            Some("header") => ("plain_text", 150),
            Some("section") => ("mrkdwn", 3000),
            other => return Err(format!("a block of type {other:?}")),
        };
        let block_text = block["text"]["text"].as_str().unwrap_or_default();
        if block["text"]["type"] != kind {
            return Err(format!(
                "a {} block whose text is not {kind}",
                block["type"]
            ));
        }
        if block_text.is_empty() || block_text.chars().count() > limit {
            return Err(format!(
                "a {} block's text is empty or over {limit}",
                block["type"]
            ));
        }
        texts.push(block_text);
    }
    let unescaped = |t: &str| {
        t.contains(['<', '>'])
            || t.match_indices('&').any(|(at, _)| {
                !["&amp;", "&lt;", "&gt;"]
                    .iter()
                    .any(|entity| t[at..].starts_with(entity))
            })
    };
    match texts.into_iter().find(|t| unescaped(t)) {
        Some(t) => Err(format!("unescaped control characters in {t:?}")),
        None => Ok(()),
    }
}

impl Receiver for SlackState {
    fn inbox(&mut self) -> &mut Inbox {
        &mut self.inbox
    }
}

impl Venue for SlackState {
    fn route(&self, _request: &Request) -> Option<Route> {
        Some(Route::PlaceOrder)
    }

    fn handle(&mut self, request: &Request) -> Answer {
        let Some((path_to_secret, _)) = WEBHOOK_PATH.rsplit_once('/') else {
            return answer(500, Value::from("mock misconfigured"));
        };
        if request.path != WEBHOOK_PATH {
            return match request.path.starts_with(path_to_secret) {
                true => answer(403, Value::from("invalid_token")),
                false => answer(404, Value::from("no_service")),
            };
        }
        if request.method != "POST" {
            return answer(405, Value::from("invalid_method"));
        }
        let now = Instant::now();
        if let Some(left) = self.inbox.early(now) {
            return self.trouble(Trouble::Throttled(left.as_secs() + 1));
        }
        if !self.failures.is_empty() {
            return match self.failures.remove(0) {
                Failure::ServerError => self.trouble(Trouble::Internal),
                Failure::RateLimited { retry_after_secs } => {
                    self.inbox.hold(Duration::from_secs(retry_after_secs));
                    self.trouble(Trouble::Throttled(retry_after_secs))
                }
            };
        }
        if self.archived {
            return answer(410, Value::from("channel_is_archived"));
        }
        if !request
            .header("content-type")
            .is_some_and(|t| t.starts_with("application/json"))
        {
            return self.refuse("invalid_payload", "not JSON".into());
        }
        let body: Value = match serde_json::from_str(&request.body) {
            Ok(body) => body,
            Err(e) => return self.refuse("invalid_payload", format!("unreadable JSON: {e}")),
        };
        if let Err(why) = check_shape(&body) {
            return self.refuse("invalid_blocks", why);
        }
        self.inbox.take(body);
        answer(200, Value::from("ok"))
    }

    fn trouble(&self, trouble: Trouble) -> Answer {
        match trouble {
            Trouble::Throttled(secs) | Trouble::Banned(secs) => {
                retry_after(answer(429, Value::from("rate_limited")), secs)
            }
            Trouble::Internal | Trouble::BackendTimeout => {
                answer(500, Value::from("internal_error"))
            }
        }
    }

    fn faults(&mut self) -> &mut Faults {
        &mut self.faults
    }
}
