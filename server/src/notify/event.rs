//! The events a trader hears about, read from the audit chain: each is
//! an audit event written in the transaction of the change it reports
//! (see [`crate::store::OutboxStore`]), described for people.

use std::collections::HashMap;

use tradeplane_api::AuditOutcome;

use super::{
    channel::{Button, Severity},
    daily_pnl::DailyPnl,
};
use crate::{
    audit::actions,
    model::order::{Order, OrderRole, OrderStatus},
    store::AuditRow,
    words::word_enum,
};

word_enum! {
    /// What happened.
    pub enum EventKind {
        OrderFilled => "order_filled",
        OrderPartiallyFilled => "order_partially_filled",
        OrderRejected => "order_rejected",
        OrderFailed => "order_failed",
        /// A stop-loss or take-profit executed.
        ProtectiveTriggered => "protective_triggered",
        ExecutionFailed => "execution_failed",
        ExecutionSkipped => "execution_skipped",
        /// An execution the risk rules refused.
        RiskRefused => "risk_refused",
        BreakerOpened => "breaker_opened",
        BreakerClosed => "breaker_closed",
        HaltSet => "halt_set",
        HaltCleared => "halt_cleared",
        DriftDetected => "drift_detected",
        ApprovalPending => "approval_pending",
        ApprovalApproved => "approval_approved",
        ApprovalRejected => "approval_rejected",
        ApprovalExpired => "approval_expired",
        ApiKeyCreated => "api_key_created",
        ApiKeyRevoked => "api_key_revoked",
        /// The daily P&L summary.
        DailyPnl => "daily_pnl",
    }
}

impl EventKind {
    /// How much it matters.
    pub fn severity(self) -> Severity {
        use EventKind::*;
        match self {
            BreakerOpened | HaltSet => Severity::Critical,
            OrderRejected | OrderFailed | ProtectiveTriggered | ExecutionFailed | RiskRefused
            | DriftDetected | ApprovalPending | ApiKeyRevoked => Severity::Warning,
            OrderFilled | OrderPartiallyFilled | ExecutionSkipped | BreakerClosed | HaltCleared
            | ApprovalApproved | ApprovalRejected | ApprovalExpired | ApiKeyCreated | DailyPnl => {
                Severity::Info
            }
        }
    }
}

/// One event, described.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The audit event's sequence.
    pub sequence: i64,
    /// Unique and stable: the idempotency key receivers see.
    pub id: String,
    pub kind: EventKind,
    pub title: String,
    pub text: String,
    /// The pipeline's id and name; empty for events of none.
    pub pipeline_id: String,
    pub pipeline: String,
    /// `exchange/account`; empty for events of none.
    pub account: String,
    pub time_ms: i64,
    pub buttons: Vec<Button>,
}

/// The event an audit event reports, if it reports one a trader hears
/// about. `order` is the order an `order.*` event names, as stored;
/// `pipelines` maps pipeline ids to names.
pub fn describe(
    row: &AuditRow,
    order: Option<&Order>,
    pipelines: &HashMap<String, String>,
) -> Option<Event> {
    // A decision that did not take (the approval was decided before, or
    // void) is audited, but it changed nothing: no event.
    let decision = [
        actions::APPROVAL_APPROVE,
        actions::APPROVAL_REJECT,
        actions::APPROVAL_EXPIRE,
    ];
    if decision.contains(&row.action.as_str()) && row.outcome != AuditOutcome::Success as i32 {
        return None;
    }
    let (kind, title, text) = match row.action.as_str() {
        actions::ORDER_PLACE | actions::ORDER_FILL | actions::ORDER_FAIL => {
            return order.and_then(|order| of_order(row, order, pipelines));
        }
        actions::BREAKER_TRANSITION if row.detail.starts_with("open") => (
            EventKind::BreakerOpened,
            format!("Breaker open on {}: orders paused", row.target),
            row.detail.clone(),
        ),
        actions::BREAKER_TRANSITION if row.detail.starts_with("closed") => (
            EventKind::BreakerClosed,
            format!("Breaker closed on {}: orders flow again", row.target),
            row.detail.clone(),
        ),
        actions::BREAKER_TRIP => (
            EventKind::BreakerOpened,
            format!("Breaker tripped on {} by {}", row.target, row.actor),
            row.detail.clone(),
        ),
        actions::BREAKER_RESET => (
            EventKind::BreakerClosed,
            format!("Breaker reset on {} by {}", row.target, row.actor),
            row.detail.clone(),
        ),
        actions::TRADING_HALT => (
            EventKind::HaltSet,
            format!("Trading halted by {}", row.actor),
            row.detail.clone(),
        ),
        actions::TRADING_RESUME => (
            EventKind::HaltCleared,
            format!("Trading resumed by {}", row.actor),
            row.detail.clone(),
        ),
        actions::POSITION_DRIFT => (
            EventKind::DriftDetected,
            format!("Drift in pipeline {}", row.target),
            row.detail.clone(),
        ),
        actions::EXECUTION_FAIL => (
            EventKind::ExecutionFailed,
            "Execution failed".to_string(),
            row.detail.clone(),
        ),
        actions::EXECUTION_SKIP if row.detail.starts_with("risk_rejected") => (
            EventKind::RiskRefused,
            "Refused by the risk rules".to_string(),
            row.detail.clone(),
        ),
        actions::EXECUTION_SKIP => (
            EventKind::ExecutionSkipped,
            "Execution skipped".to_string(),
            row.detail.clone(),
        ),
        actions::APPROVAL_HOLD => (
            EventKind::ApprovalPending,
            "Order waiting for your approval".to_string(),
            row.detail.clone(),
        ),
        actions::APPROVAL_APPROVE => (
            EventKind::ApprovalApproved,
            format!("Approved by {}", row.actor),
            row.detail.clone(),
        ),
        actions::APPROVAL_REJECT => (
            EventKind::ApprovalRejected,
            format!("Rejected by {}", row.actor),
            row.detail.clone(),
        ),
        actions::APPROVAL_EXPIRE => (
            EventKind::ApprovalExpired,
            "Approval expired".to_string(),
            row.detail.clone(),
        ),
        actions::API_KEY_CREATE => (
            EventKind::ApiKeyCreated,
            format!("API key created by {}", row.actor),
            row.detail.clone(),
        ),
        actions::API_KEY_REVOKE => (
            EventKind::ApiKeyRevoked,
            format!("API key revoked by {}", row.actor),
            row.detail.clone(),
        ),
        actions::REPORT_DAILY_PNL => match DailyPnl::read(&row.detail) {
            Some(figures) => (EventKind::DailyPnl, figures.title(), figures.text()),
            None => (
                EventKind::DailyPnl,
                format!("Daily P&L {}", row.target),
                row.detail.clone(),
            ),
        },
        _ => return None,
    };
    // A drift names its pipeline.
    let pipeline = match kind {
        EventKind::DriftDetected => row.target.clone(),
        _ => String::new(),
    };
    let buttons = match kind {
        EventKind::ApprovalPending => vec![
            Button {
                label: "Approve".into(),
                callback: format!("approve:{}", row.target),
            },
            Button {
                label: "Reject".into(),
                callback: format!("reject:{}", row.target),
            },
        ],
        _ => Vec::new(),
    };
    Some(Event {
        buttons,
        pipeline,
        ..event(row, kind, title, text)
    })
}

/// What an order's audit event reports, from the order as stored: a
/// fill (a protective one is a trigger), a refusal or a failure.
fn of_order(row: &AuditRow, order: &Order, pipelines: &HashMap<String, String>) -> Option<Event> {
    let protective = matches!(
        order.origin.role,
        Some(OrderRole::StopLoss | OrderRole::TakeProfit)
    );
    // A placement or a fill reports the status it found (its detail ends
    // with it); a failure is final, as the order is now.
    let status = match row.action.as_str() {
        actions::ORDER_FAIL => order.status,
        _ => {
            let answer = row.detail.split("; ").next()?;
            OrderStatus::from_word(answer.rsplit_once(": ")?.1)?
        }
    };
    let kind = match status {
        OrderStatus::Filled if protective => EventKind::ProtectiveTriggered,
        OrderStatus::Filled => EventKind::OrderFilled,
        OrderStatus::PartiallyFilled => EventKind::OrderPartiallyFilled,
        OrderStatus::Rejected => EventKind::OrderRejected,
        OrderStatus::Failed => EventKind::OrderFailed,
        _ => return None,
    };
    let account = format!("{}/{}", order.exchange, order.account);
    let what = format!(
        "{} {} {}",
        order.side.word(),
        order.filled_quantity.normalize(),
        order.instrument.symbol
    );
    let at = order
        .average_fill_price
        .map(|price| format!(" at {}", price.normalize()))
        .unwrap_or_default();
    let (title, text) = match kind {
        EventKind::ProtectiveTriggered => (
            format!(
                "{} hit on {account}",
                order.origin.role.map_or("exit", OrderRole::word)
            ),
            format!("{what}{at}"),
        ),
        EventKind::OrderFilled | EventKind::OrderPartiallyFilled => (
            format!("{} on {account}", kind_title(kind)),
            format!("{what}{at}"),
        ),
        _ => (
            format!("{} on {account}", kind_title(kind)),
            format!(
                "{} {} {}: {}",
                order.side.word(),
                order.quantity.normalize(),
                order.instrument.symbol,
                order.status_reason
            ),
        ),
    };
    let pipeline = pipelines
        .get(&order.origin.pipeline_id)
        .cloned()
        .unwrap_or_else(|| order.origin.pipeline_id.clone());
    Some(Event {
        pipeline_id: order.origin.pipeline_id.clone(),
        pipeline,
        account,
        ..event(row, kind, title, text)
    })
}

fn kind_title(kind: EventKind) -> &'static str {
    match kind {
        EventKind::OrderFilled => "Filled",
        EventKind::OrderPartiallyFilled => "Partly filled",
        EventKind::OrderRejected => "Order rejected",
        _ => "Order failed",
    }
}

/// The event of `row`, of no pipeline or account.
fn event(row: &AuditRow, kind: EventKind, title: String, text: String) -> Event {
    Event {
        sequence: row.sequence,
        id: format!(
            "evt_{}_{}",
            row.sequence,
            row.hash.get(..16).unwrap_or(&row.hash)
        ),
        kind,
        title,
        text,
        pipeline_id: String::new(),
        pipeline: String::new(),
        account: String::new(),
        time_ms: row.time_ms,
        buttons: Vec::new(),
    }
}
