//! Webhook authentication: a passphrase in the body (TradingView cannot set
//! headers; checked by [`crate::security::webhook_secret`]) or an
//! `X-Signature: sha256=<hex>` HMAC of the body, and the client address
//! that the allowlist and rate limit see.

use std::net::{IpAddr, SocketAddr};

use hmac::{Hmac, Mac};
use http::HeaderMap;
use sha2::Sha256;

use crate::{api_error::ApiError, security::webhook_secret::PassphraseRefusal};

/// Why a webhook call was not authenticated (a metric label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    IpNotAllowed,
    MissingPassphrase,
    BadPassphrase,
    BadSignature,
}

impl AuthFailure {
    /// Every failure, for pre-registering metric series.
    pub const ALL: [AuthFailure; 4] = [
        AuthFailure::IpNotAllowed,
        AuthFailure::MissingPassphrase,
        AuthFailure::BadPassphrase,
        AuthFailure::BadSignature,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthFailure::IpNotAllowed => "ip_not_allowed",
            AuthFailure::MissingPassphrase => "missing_passphrase",
            AuthFailure::BadPassphrase => "bad_passphrase",
            AuthFailure::BadSignature => "bad_signature",
        }
    }
}

impl AuthFailure {
    /// The refusal as the caller sees it: 403 for the address, 401 for
    /// credentials, with the gRPC surface's UPPER_SNAKE_CASE reasons.
    pub fn api_error(self) -> ApiError {
        let unauthenticated = |reason, message: &str| ApiError::Unauthenticated {
            reason,
            message: message.into(),
        };
        match self {
            AuthFailure::IpNotAllowed => ApiError::PermissionDenied {
                reason: "IP_NOT_ALLOWED",
                message: "client address is not on the webhook allowlist".into(),
            },
            AuthFailure::MissingPassphrase => {
                unauthenticated("MISSING_PASSPHRASE", "the body has no `passphrase`")
            }
            AuthFailure::BadPassphrase => {
                unauthenticated("BAD_PASSPHRASE", "the `passphrase` is wrong")
            }
            AuthFailure::BadSignature => {
                unauthenticated("BAD_SIGNATURE", "the X-Signature does not match the body")
            }
        }
    }
}

impl From<PassphraseRefusal> for AuthFailure {
    fn from(refusal: PassphraseRefusal) -> Self {
        match refusal {
            PassphraseRefusal::Missing => AuthFailure::MissingPassphrase,
            PassphraseRefusal::Wrong => AuthFailure::BadPassphrase,
        }
    }
}

/// The webhook's signature secret and proxy policy.
pub struct WebhookAuth {
    hmac_secret: Option<Vec<u8>>,
    trust_forwarded_for: bool,
}

impl WebhookAuth {
    /// Builds the policy; an empty `hmac_secret` disables signatures.
    pub fn new(hmac_secret: &str, trust_forwarded_for: bool) -> Self {
        Self {
            hmac_secret: (!hmac_secret.is_empty()).then(|| hmac_secret.as_bytes().to_vec()),
            trust_forwarded_for,
        }
    }

    /// The client address: the peer, or with `trust_forwarded_for` the
    /// address the proxy appended last to `X-Forwarded-For`.
    pub fn client_ip(&self, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
        if self.trust_forwarded_for {
            let forwarded = headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .filter_map(|a| a.trim().parse::<IpAddr>().ok())
                .next_back();
            if let Some(ip) = forwarded {
                return ip;
            }
        }
        peer.ip()
    }

    /// Verifies `X-Signature` when present and signatures are configured.
    /// `Ok(true)`: the body is signed correctly and needs no passphrase.
    pub fn check_signature(&self, headers: &HeaderMap, body: &[u8]) -> Result<bool, AuthFailure> {
        let (Some(secret), Some(header)) = (&self.hmac_secret, headers.get("x-signature")) else {
            return Ok(false);
        };
        let signature = header
            .to_str()
            .ok()
            .and_then(|v| v.trim().strip_prefix("sha256="))
            .and_then(|hex_sig| hex::decode(hex_sig).ok())
            .ok_or(AuthFailure::BadSignature)?;
        let mut mac =
            Hmac::<Sha256>::new_from_slice(secret).map_err(|_| AuthFailure::BadSignature)?;
        mac.update(body);
        mac.verify_slice(&signature)
            .map(|_| true)
            .map_err(|_| AuthFailure::BadSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures() {
        let a = WebhookAuth::new("hmac-key", false);
        let body = b"{\"ticker\":\"BTCUSDT\"}";
        let mut mac = Hmac::<Sha256>::new_from_slice(b"hmac-key").unwrap();
        mac.update(body);
        let good = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        let mut headers = HeaderMap::new();
        assert_eq!(a.check_signature(&headers, body), Ok(false));
        headers.insert("x-signature", good.parse().unwrap());
        assert_eq!(a.check_signature(&headers, body), Ok(true));
        assert_eq!(
            a.check_signature(&headers, b"tampered"),
            Err(AuthFailure::BadSignature)
        );
        headers.insert("x-signature", "sha256=zz".parse().unwrap());
        assert_eq!(
            a.check_signature(&headers, body),
            Err(AuthFailure::BadSignature)
        );
    }

    #[test]
    fn forwarded_for_is_used_only_when_trusted() {
        let other: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "52.89.214.238".parse().unwrap());
        assert_eq!(
            WebhookAuth::new("", false).client_ip(other, &headers),
            other.ip(),
            "forged header ignored unless trusted"
        );
        headers.insert("x-forwarded-for", "1.2.3.4, 52.89.214.238".parse().unwrap());
        assert_eq!(
            WebhookAuth::new("", true).client_ip(other, &headers),
            "52.89.214.238".parse::<IpAddr>().unwrap()
        );
    }
}
