//! CIDR allowlists, one for the webhook surface and one for gRPC. An empty
//! list allows every address. Lists can be replaced at run time.

use std::{
    net::IpAddr,
    sync::{Arc, RwLock},
};

use ipnet::IpNet;
use tradeplane_api::Surface;

/// TradingView's published webhook source addresses.
pub const TRADINGVIEW_ADDRESSES: [&str; 4] = [
    "52.89.214.238",
    "34.212.75.30",
    "54.218.53.128",
    "52.32.178.7",
];

/// TradingView's addresses as /32 networks.
pub fn tradingview_preset() -> Vec<IpNet> {
    TRADINGVIEW_ADDRESSES
        .iter()
        .filter_map(|a| a.parse::<IpAddr>().ok())
        .map(IpNet::from)
        .collect()
}

/// Both allowlists.
pub struct Allowlists {
    webhook: RwLock<Arc<[IpNet]>>,
    grpc: RwLock<Arc<[IpNet]>>,
}

impl Allowlists {
    /// Lists as configured.
    pub fn new(webhook: Vec<IpNet>, grpc: Vec<IpNet>) -> Self {
        Self {
            webhook: RwLock::new(webhook.into()),
            grpc: RwLock::new(grpc.into()),
        }
    }

    fn list(&self, surface: Surface) -> &RwLock<Arc<[IpNet]>> {
        match surface {
            Surface::Grpc => &self.grpc,
            _ => &self.webhook,
        }
    }

    /// The networks of `surface`.
    pub fn get(&self, surface: Surface) -> Vec<IpNet> {
        self.list(surface)
            .read()
            .map(|nets| nets.to_vec())
            .unwrap_or_default()
    }

    /// Replaces the networks of `surface`.
    pub fn set(&self, surface: Surface, nets: Vec<IpNet>) {
        if let Ok(mut list) = self.list(surface).write() {
            *list = nets.into();
        }
    }

    /// Whether `ip` may use `surface` (IPv4-mapped IPv6 counts as IPv4).
    pub fn allows(&self, surface: Surface, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
            v4 => v4,
        };
        let Ok(nets) = self.list(surface).read() else {
            return false;
        };
        nets.is_empty() || nets.iter().any(|net| net.contains(&ip))
    }
}

/// The label of a surface in metrics and audit events.
pub fn surface_name(surface: Surface) -> &'static str {
    match surface {
        Surface::Grpc => "grpc",
        _ => "webhook",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_preset_and_mapped_addresses() {
        let lists = Allowlists::new(tradingview_preset(), vec![]);
        assert!(lists.allows(Surface::Webhook, "52.89.214.238".parse().unwrap()));
        assert!(lists.allows(Surface::Webhook, "::ffff:52.32.178.7".parse().unwrap()));
        assert!(!lists.allows(Surface::Webhook, "127.0.0.1".parse().unwrap()));
        assert!(
            lists.allows(Surface::Grpc, "127.0.0.1".parse().unwrap()),
            "empty allows all"
        );
        lists.set(Surface::Grpc, vec!["10.0.0.0/8".parse().unwrap()]);
        assert!(!lists.allows(Surface::Grpc, "127.0.0.1".parse().unwrap()));
    }
}
