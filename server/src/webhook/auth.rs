//! Webhook authentication: a passphrase in the body (TradingView cannot set
//! headers) or an `X-Signature: sha256=<hex>` HMAC of the body, plus an
//! optional CIDR allowlist on the client address.

use std::net::{IpAddr, SocketAddr};

use hmac::{Hmac, Mac};
use http::HeaderMap;
use ipnet::IpNet;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// TradingView's published webhook source addresses.
pub const TRADINGVIEW_ADDRESSES: [&str; 4] = [
    "52.89.214.238",
    "34.212.75.30",
    "54.218.53.128",
    "52.32.178.7",
];

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

/// The webhook's secrets and network policy.
pub struct WebhookAuth {
    passphrase_digest: [u8; 32],
    hmac_secret: Option<Vec<u8>>,
    allowlist: Vec<IpNet>,
    trust_forwarded_for: bool,
}

impl WebhookAuth {
    /// Builds the policy. An empty allowlist allows every address.
    pub fn new(
        passphrase: &str,
        hmac_secret: &str,
        allowlist: Vec<IpNet>,
        trust_forwarded_for: bool,
    ) -> Self {
        Self {
            passphrase_digest: Sha256::digest(passphrase.as_bytes()).into(),
            hmac_secret: (!hmac_secret.is_empty()).then(|| hmac_secret.as_bytes().to_vec()),
            allowlist,
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

    /// Checks the allowlist.
    pub fn check_address(&self, ip: IpAddr) -> Result<(), AuthFailure> {
        let ip = match ip {
            IpAddr::V6(v6) => v6
                .to_ipv4_mapped()
                .map(IpAddr::V4)
                .unwrap_or(IpAddr::V6(v6)),
            v4 => v4,
        };
        if self.allowlist.is_empty() || self.allowlist.iter().any(|net| net.contains(&ip)) {
            Ok(())
        } else {
            Err(AuthFailure::IpNotAllowed)
        }
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

    /// Compares the body's passphrase in constant time.
    pub fn check_passphrase(&self, candidate: Option<&str>) -> Result<(), AuthFailure> {
        let candidate = candidate
            .filter(|c| !c.is_empty())
            .ok_or(AuthFailure::MissingPassphrase)?;
        let digest: [u8; 32] = Sha256::digest(candidate.as_bytes()).into();
        if bool::from(digest.ct_eq(&self.passphrase_digest)) {
            Ok(())
        } else {
            Err(AuthFailure::BadPassphrase)
        }
    }
}

/// The allowlist for a configuration: its CIDRs plus, when asked, the
/// TradingView preset.
pub fn allowlist(cidrs: &[IpNet], tradingview_preset: bool) -> Vec<IpNet> {
    let mut nets = cidrs.to_vec();
    if tradingview_preset {
        nets.extend(
            TRADINGVIEW_ADDRESSES
                .iter()
                .filter_map(|a| a.parse::<IpAddr>().ok())
                .map(IpNet::from),
        );
    }
    nets
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(allow: Vec<IpNet>, trust: bool) -> WebhookAuth {
        WebhookAuth::new("pass", "hmac-key", allow, trust)
    }

    #[test]
    fn passphrases() {
        let a = auth(vec![], false);
        assert_eq!(a.check_passphrase(Some("pass")), Ok(()));
        assert_eq!(
            a.check_passphrase(Some("nope")),
            Err(AuthFailure::BadPassphrase)
        );
        assert_eq!(
            a.check_passphrase(None),
            Err(AuthFailure::MissingPassphrase)
        );
        assert_eq!(
            a.check_passphrase(Some("")),
            Err(AuthFailure::MissingPassphrase)
        );
    }

    #[test]
    fn signatures() {
        let a = auth(vec![], false);
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
    fn allowlist_and_forwarded_for() {
        let a = auth(allowlist(&[], true), false);
        let tv: SocketAddr = "52.89.214.238:443".parse().unwrap();
        let other: SocketAddr = "127.0.0.1:9".parse().unwrap();
        assert_eq!(a.check_address(tv.ip()), Ok(()));
        assert_eq!(a.check_address(other.ip()), Err(AuthFailure::IpNotAllowed));
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "52.89.214.238".parse().unwrap());
        assert_eq!(
            a.client_ip(other, &headers),
            other.ip(),
            "forged header ignored unless trusted"
        );
        let trusting = auth(vec![], true);
        headers.insert("x-forwarded-for", "1.2.3.4, 52.89.214.238".parse().unwrap());
        assert_eq!(
            trusting.client_ip(other, &headers),
            "52.89.214.238".parse::<IpAddr>().unwrap()
        );
    }
}
