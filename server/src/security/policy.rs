//! The one policy table: the least role allowed to call each RPC. The gRPC
//! auth layer consults it for every call; nothing else decides access.

use tradeplane_api::Role;

/// Who may call a method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No key needed (health, reflection).
    Open,
    /// A key with at least this role.
    Role(Role),
}

/// Services anyone may call: orchestrators probe health without a key,
/// and grpcurl discovers the API through reflection.
const OPEN_SERVICES: [&str; 3] = [
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
];

/// Every RPC of the tradeplane services and its least role.
pub const POLICY: &[(&str, Role)] = &[
    ("tradeplane.v1.SignalService/SubmitSignal", Role::Submitter),
    ("tradeplane.v1.SignalService/SubmitSignals", Role::Submitter),
    ("tradeplane.v1.SignalService/GetSignal", Role::Viewer),
    ("tradeplane.v1.SignalService/ListSignals", Role::Viewer),
    ("tradeplane.v1.SignalService/WatchSignals", Role::Viewer),
    ("tradeplane.v1.OrderService/PlaceOrder", Role::Trader),
    ("tradeplane.v1.OrderService/CancelOrder", Role::Trader),
    ("tradeplane.v1.OrderService/GetOrder", Role::Viewer),
    ("tradeplane.v1.OrderService/ListOrders", Role::Viewer),
    ("tradeplane.v1.OrderService/WatchOrders", Role::Viewer),
    ("tradeplane.v1.OrderService/ListExchanges", Role::Viewer),
    ("tradeplane.v1.OrderService/GetBalances", Role::Viewer),
    ("tradeplane.v1.OrderService/GetPositions", Role::Viewer),
    ("tradeplane.v1.PipelineService/CreatePipeline", Role::Trader),
    ("tradeplane.v1.PipelineService/GetPipeline", Role::Viewer),
    ("tradeplane.v1.PipelineService/ListPipelines", Role::Viewer),
    ("tradeplane.v1.PipelineService/UpdatePipeline", Role::Trader),
    ("tradeplane.v1.PipelineService/DeletePipeline", Role::Trader),
    ("tradeplane.v1.PipelineService/PausePipeline", Role::Trader),
    ("tradeplane.v1.PipelineService/ResumePipeline", Role::Trader),
    ("tradeplane.v1.PipelineService/RunPipeline", Role::Trader),
    ("tradeplane.v1.PipelineService/GetExecution", Role::Viewer),
    ("tradeplane.v1.PipelineService/ListExecutions", Role::Viewer),
    (
        "tradeplane.v1.PipelineService/WatchExecutions",
        Role::Viewer,
    ),
    ("tradeplane.v1.PipelineService/ListApprovals", Role::Viewer),
    // Approving sends an order: the role that may place orders.
    ("tradeplane.v1.PipelineService/ApproveOrder", Role::Trader),
    ("tradeplane.v1.PipelineService/RejectOrder", Role::Trader),
    ("tradeplane.v1.PipelineService/WatchApprovals", Role::Viewer),
    (
        "tradeplane.v1.SecurityAdminService/CreateApiKey",
        Role::Admin,
    ),
    (
        "tradeplane.v1.SecurityAdminService/ListApiKeys",
        Role::Admin,
    ),
    (
        "tradeplane.v1.SecurityAdminService/RevokeApiKey",
        Role::Admin,
    ),
    (
        "tradeplane.v1.SecurityAdminService/GetRateLimits",
        Role::Admin,
    ),
    (
        "tradeplane.v1.SecurityAdminService/UpdateRateLimits",
        Role::Admin,
    ),
    (
        "tradeplane.v1.SecurityAdminService/ListRateLimited",
        Role::Admin,
    ),
    (
        "tradeplane.v1.SecurityAdminService/GetAllowlist",
        Role::Admin,
    ),
    (
        "tradeplane.v1.SecurityAdminService/UpdateAllowlist",
        Role::Admin,
    ),
    (
        "tradeplane.v1.SecurityAdminService/RotateWebhookSecret",
        Role::Admin,
    ),
    (
        "tradeplane.v1.SecurityAdminService/ListCircuitBreakers",
        Role::Viewer,
    ),
    (
        "tradeplane.v1.SecurityAdminService/TripCircuitBreaker",
        Role::Trader,
    ),
    (
        "tradeplane.v1.SecurityAdminService/ResetCircuitBreaker",
        Role::Admin,
    ),
    // Anyone who can trade can stop trading; only an admin restarts it.
    (
        "tradeplane.v1.SecurityAdminService/HaltTrading",
        Role::Trader,
    ),
    (
        "tradeplane.v1.SecurityAdminService/ResumeTrading",
        Role::Admin,
    ),
    (
        "tradeplane.v1.SecurityAdminService/GetTradingStatus",
        Role::Viewer,
    ),
    (
        "tradeplane.v1.SecurityAdminService/ListAuditEvents",
        Role::Admin,
    ),
    (
        "tradeplane.v1.SecurityAdminService/WatchAuditEvents",
        Role::Admin,
    ),
    (
        "tradeplane.v1.SecurityAdminService/VerifyAuditLog",
        Role::Admin,
    ),
    // Subscriptions show chat ids and e-mail addresses: traders read them;
    // only an admin adds or removes a channel, or sends through one.
    (
        "tradeplane.v1.NotificationService/CreateSubscription",
        Role::Admin,
    ),
    (
        "tradeplane.v1.NotificationService/GetSubscription",
        Role::Trader,
    ),
    (
        "tradeplane.v1.NotificationService/ListSubscriptions",
        Role::Trader,
    ),
    (
        "tradeplane.v1.NotificationService/DeleteSubscription",
        Role::Admin,
    ),
    (
        "tradeplane.v1.NotificationService/ListDeliveries",
        Role::Trader,
    ),
    (
        "tradeplane.v1.NotificationService/TestSubscription",
        Role::Admin,
    ),
];

/// Who may call `path` (`/package.Service/Method`). A path in no table
/// needs an admin key, so that nothing added later is open by accident.
pub fn access(path: &str) -> Access {
    let path = path.trim_start_matches('/');
    let service = path.split('/').next().unwrap_or_default();
    if OPEN_SERVICES.contains(&service) {
        return Access::Open;
    }
    POLICY
        .iter()
        .find(|(method, _)| *method == path)
        .map_or(Access::Role(Role::Admin), |(_, role)| Access::Role(*role))
}

/// Whether `held` is at least `needed` (admin > trader > submitter > viewer).
pub fn allows(held: Role, needed: Role) -> bool {
    held != Role::Unspecified && held as i32 >= needed as i32
}

/// The lowercase role name used in messages, config and the CLI.
pub fn role_name(role: Role) -> &'static str {
    match role {
        Role::Admin => "admin",
        Role::Trader => "trader",
        Role::Submitter => "submitter",
        Role::Viewer => "viewer",
        Role::Unspecified => "none",
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;
    use prost_types::FileDescriptorSet;

    use super::*;

    #[test]
    fn every_rpc_of_the_contract_is_in_the_table_once() {
        let set = FileDescriptorSet::decode(tradeplane_api::FILE_DESCRIPTOR_SET).unwrap();
        let mut methods = Vec::new();
        for file in &set.file {
            for service in &file.service {
                for method in &service.method {
                    methods.push(format!(
                        "{}.{}/{}",
                        file.package(),
                        service.name(),
                        method.name()
                    ));
                }
            }
        }
        methods.sort();
        let mut table: Vec<String> = POLICY.iter().map(|(m, _)| m.to_string()).collect();
        table.sort();
        assert_eq!(methods, table);
    }

    #[test]
    fn roles_are_ordered() {
        assert!(allows(Role::Admin, Role::Viewer));
        assert!(allows(Role::Trader, Role::Submitter));
        assert!(!allows(Role::Submitter, Role::Trader));
        assert!(!allows(Role::Unspecified, Role::Viewer));
        assert_eq!(access("/grpc.health.v1.Health/Check"), Access::Open);
        assert_eq!(
            access("/tradeplane.v1.Unknown/Thing"),
            Access::Role(Role::Admin)
        );
    }
}
