//! A loopback receiver of outbound webhooks that checks what a Standard
//! Webhooks receiver checks: the three headers, the timestamp within five
//! minutes of its clock, and a `v1` signature by the shared secret; it
//! parses the JSON body, and de-duplicates by `webhook-id` like an
//! idempotent receiver (it counts the duplicates it saw). Faults are
//! queued on [`Route::PlaceOrder`]: a delivery is this receiver's one
//! operation.

use base64::{Engine, engine::general_purpose::STANDARD as BASE64};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::mock_venue::{
    Answer, Faults, Mock, MockState, Request, Route, Trouble, Venue, answer, retry_after,
};

/// How far a delivery's timestamp may be from the receiver's clock.
pub const TOLERANCE_SECS: i64 = 300;

/// One delivery the receiver accepted, as it arrived.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub id: String,
    pub timestamp: String,
    pub signature: String,
    /// The raw body, exactly as signed.
    pub body: String,
    pub json: Value,
}

/// The receiver's state.
pub struct WebhookReceiver {
    key: Vec<u8>,
    deliveries: Vec<Delivery>,
    /// Deliveries whose `webhook-id` was already accepted.
    duplicates: u64,
    /// Requests refused for a missing header, a stale timestamp or a bad
    /// signature.
    refused_signatures: u64,
    clock_offset_ms: i64,
    faults: Faults,
}

/// A running receiver; it stops when dropped.
pub type MockWebhook = Mock<WebhookReceiver>;

impl MockWebhook {
    /// A receiver that verifies signatures by `secret` (`whsec_...`).
    pub async fn start(secret: &str) -> Self {
        let encoded = secret.strip_prefix("whsec_").expect("a whsec_ secret");
        Mock::serve(WebhookReceiver {
            key: BASE64.decode(encoded).expect("a base64 secret"),
            deliveries: Vec::new(),
            duplicates: 0,
            refused_signatures: 0,
            clock_offset_ms: 0,
            faults: Faults::default(),
        })
        .await
    }

    /// Deliveries whose `webhook-id` had been accepted before.
    pub fn duplicates(&self) -> u64 {
        self.with(|s| s.duplicates)
    }

    /// The bodies of the deliveries accepted whose `type` is `kind`.
    pub fn received(&self, kind: &str) -> Vec<Value> {
        self.orders()
            .into_iter()
            .map(|delivery| delivery.json)
            .filter(|json| json["type"] == kind)
            .collect()
    }
}

impl WebhookReceiver {
    /// Whether the request is signed by the secret, at a time the
    /// receiver accepts.
    fn authentic(&self, request: &Request) -> bool {
        let (Some(id), Some(timestamp), Some(signatures)) = (
            request.header("webhook-id"),
            request.header("webhook-timestamp"),
            request.header("webhook-signature"),
        ) else {
            return false;
        };
        let now = (chrono::Utc::now().timestamp_millis() + self.clock_offset_ms) / 1000;
        let Ok(sent) = timestamp.parse::<i64>() else {
            return false;
        };
        if (now - sent).abs() > TOLERANCE_SECS {
            return false;
        }
        signatures.split(' ').any(|signature| {
            let Some(encoded) = signature.strip_prefix("v1,") else {
                return false;
            };
            let Ok(expected) = BASE64.decode(encoded) else {
                return false;
            };
            let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("any key size");
            mac.update(format!("{id}.{timestamp}.{}", request.body).as_bytes());
            mac.verify_slice(&expected).is_ok()
        })
    }
}

/// Whether `body` has the delivery's shape: `{type, timestamp, data:
/// {title, text, severity}}`, all strings.
fn well_formed(body: &Value) -> bool {
    let text = |value: &Value| value.as_str().is_some();
    text(&body["type"])
        && body["timestamp"]
            .as_str()
            .is_some_and(|t| chrono::DateTime::parse_from_rfc3339(t).is_ok())
        && ["title", "text", "severity"]
            .iter()
            .all(|field| text(&body["data"][field]))
}

impl Venue for WebhookReceiver {
    fn route(&self, request: &Request) -> Option<Route> {
        (request.method == "POST").then_some(Route::PlaceOrder)
    }

    fn handle(&mut self, request: &Request) -> Answer {
        if request.method != "POST" {
            return answer(405, json!({"error": "POST only"}));
        }
        if request.header("content-type") != Some("application/json") {
            return answer(415, json!({"error": "JSON only"}));
        }
        if !self.authentic(request) {
            self.refused_signatures += 1;
            return answer(401, json!({"error": "bad signature"}));
        }
        let Ok(body) = serde_json::from_str::<Value>(&request.body) else {
            return answer(400, json!({"error": "not JSON"}));
        };
        if !well_formed(&body) {
            return answer(400, json!({"error": "not a delivery"}));
        }
        let header = |name| request.header(name).unwrap_or_default().to_string();
        let id = header("webhook-id");
        if self.deliveries.iter().any(|d| d.id == id) {
            self.duplicates += 1;
            return answer(200, json!({"duplicate": true}));
        }
        self.deliveries.push(Delivery {
            id,
            timestamp: header("webhook-timestamp"),
            signature: header("webhook-signature"),
            body: request.body.clone(),
            json: body,
        });
        answer(200, json!({"received": true}))
    }

    fn trouble(&self, trouble: Trouble) -> Answer {
        match trouble {
            Trouble::Throttled(secs) | Trouble::Banned(secs) => {
                retry_after(answer(429, json!({"error": "slow down"})), secs)
            }
            Trouble::Internal | Trouble::BackendTimeout => {
                answer(500, json!({"error": "internal"}))
            }
        }
    }

    fn faults(&mut self) -> &mut Faults {
        &mut self.faults
    }
}

impl MockState for WebhookReceiver {
    type Order = Delivery;

    fn orders(&self) -> &[Delivery] {
        &self.deliveries
    }

    fn client_order_id(delivery: &Delivery) -> &str {
        &delivery.id
    }

    fn clock_offset_ms(&mut self) -> &mut i64 {
        &mut self.clock_offset_ms
    }

    fn refused_signatures(&self) -> u64 {
        self.refused_signatures
    }
}
