//! The protect step: the bracket of a filled entry. Each take-profit is
//! one-cancels-the-other with a stop for its share of the position, so
//! that one quantity is reserved once and the stop shrinks as
//! take-profits execute; a share no take-profit covers gets a stop of its
//! own. Levels are a fixed price or an offset from the average fill. A
//! percent trailing stop goes to a venue that trails natively as a stop
//! with its trailing delta (see `OrderPlan::native_trailing_bips`).

use rust_decimal::Decimal;

use super::{
    Pipelines,
    order_plan::OrderPlan,
    sizing::{BPS, Plan},
    spec::{Compiled, Level},
    stop::Stop,
    worker::{order_request_id, origin_of, pipeline_audit},
};
use crate::{
    market::{instrument::InstrumentKind, side::Side},
    model::{
        execution::Execution,
        order::{
            AttachedExits, Attachment, Order, OrderRequest, OrderRole, OrderStatus, OrderType,
            TimeInForce,
        },
    },
    orders::{
        desk::{Leg, client_order_id},
        exchanges::round_quantity,
    },
};

/// The entry a bracket protects, and how much of its fill.
pub(super) struct Protected<'a> {
    pub entry: &'a Order,
    /// The part of the fill that opened or added to a position.
    pub quantity: Decimal,
}

impl Pipelines {
    /// Places the bracket of a filled entry; `None` when the pipeline has
    /// no protective levels or nothing opened. Returns its orders' ids.
    pub(super) async fn protect(
        &self,
        compiled: &Compiled,
        execution: &Execution,
        protected: Protected<'_>,
        trace_id: &str,
    ) -> Option<Result<Vec<String>, Stop>> {
        let plan = &compiled.order;
        if (plan.stop_loss.is_none()
            && plan.trailing_stop.is_none()
            && plan.take_profits.is_empty())
            || protected.quantity <= Decimal::ZERO
        {
            return None;
        }
        Some(
            self.place_bracket(compiled, execution, protected, trace_id)
                .await,
        )
    }

    async fn place_bracket(
        &self,
        compiled: &Compiled,
        execution: &Execution,
        Protected { entry, quantity }: Protected<'_>,
        trace_id: &str,
    ) -> Result<Vec<String>, Stop> {
        let fail = |e: &dyn std::fmt::Display| Stop::Fail(e.to_string());
        let Some(filled) = entry.average_fill_price else {
            return Err(Stop::Fail("the entry has no fill price".into()));
        };
        let exchange = self
            .desk
            .exchange(&compiled.exchange, &compiled.account)
            .map_err(|e| fail(&e))?;
        let rules = exchange.rules(entry.symbol()).await.map_err(|e| fail(&e))?;
        let legs = Legs {
            compiled,
            execution,
            entry,
            filled,
            attached: Attachment::exits(&entry.attachment),
            trailing_delta_bips: compiled
                .order
                .native_trailing_bips(exchange.native_trailing()),
        };
        // A venue sizes the exits it attaches at the entry's whole fill
        // (OKX: its filled size, the fee in the base asset included).
        let quantity = match legs.attached {
            Some(_) => entry.filled_quantity,
            None => quantity,
        };
        // A trailing stop without a stop-loss starts its distance away.
        let stop_price = match (compiled.order.stop_loss, compiled.order.trailing_stop) {
            _ if legs.attached.is_some() => legs.attached.map(|exits| exits.stop_price),
            (Some(level), _) => Some(legs.price(level, true)),
            (None, Some(trail)) => Some(legs.away(trail.distance(filled), true)),
            (None, None) => None,
        };
        let shares: Decimal = compiled.order.take_profits.iter().map(|(_, p)| *p).sum();
        let count = compiled.order.take_profits.len();
        let mut covered = Decimal::ZERO;
        let mut ids = Vec::new();
        let audit = || pipeline_audit(compiled, trace_id);
        for (index, (level, percent)) in compiled.order.take_profits.iter().enumerate() {
            // The last share of a full split takes what rounding left.
            let share = if index + 1 == count && shares == Decimal::ONE_HUNDRED {
                quantity - covered
            } else {
                round_quantity(quantity * percent / Decimal::ONE_HUNDRED, &rules)
            };
            if share <= Decimal::ZERO {
                continue;
            }
            covered += share;
            let target_price = match legs.attached {
                Some(exits) => exits.target_price,
                None => legs.price(*level, false),
            };
            let target = legs.leg(OrderRole::TakeProfit, index, share, target_price);
            let placed = match stop_price {
                Some(stop) => {
                    let stop = legs.leg(OrderRole::StopLoss, index, share, stop);
                    self.desk
                        .place_oco(
                            legs.grouped(stop, index),
                            legs.grouped(target, index),
                            audit(),
                        )
                        .await
                        .map(Vec::from)
                }
                None => self
                    .desk
                    .place_for(target.0, target.1, audit())
                    .await
                    .map(|o| vec![o]),
            };
            let placed = placed.map_err(|e| e.to_string()).and_then(accepted);
            ids.extend(placed.map_err(|e| Stop::Fail(format!("take-profit {}: {e}", index + 1)))?);
        }
        let uncovered = quantity - covered;
        if let Some(stop) = stop_price
            && uncovered > Decimal::ZERO
        {
            let (request, origin) = legs.leg(OrderRole::StopLoss, count, uncovered, stop);
            let placed = self
                .desk
                .place_for(request, origin, audit())
                .await
                .map_err(|e| e.to_string())
                .and_then(|order| accepted(vec![order]));
            ids.extend(placed.map_err(|e| Stop::Fail(format!("stop-loss: {e}")))?);
        }
        Ok(ids)
    }
}

/// The ids of placed protective orders; an order the venue refused
/// leaves the position unprotected, so its refusal is the error.
fn accepted(orders: Vec<Order>) -> Result<Vec<String>, String> {
    match orders
        .iter()
        .find(|o| matches!(o.status, OrderStatus::Rejected | OrderStatus::Failed))
    {
        Some(refused) if refused.status_reason.is_empty() => {
            Err(format!("order {} {}", refused.id, refused.status))
        }
        Some(refused) => Err(format!("order {}: {}", refused.id, refused.status_reason)),
        None => Ok(orders.into_iter().map(|o| o.id).collect()),
    }
}

/// Builds the legs of one entry's bracket.
struct Legs<'a> {
    compiled: &'a Compiled,
    execution: &'a Execution,
    entry: &'a Order,
    filled: Decimal,
    /// The exits the venue attached to the entry: the legs are those,
    /// adopted rather than placed.
    attached: Option<&'a AttachedExits>,
    /// The venue trails the stops natively by this many basis points.
    trailing_delta_bips: Option<u32>,
}

impl Legs<'_> {
    /// The price of a level: a stop sits on the losing side of the fill,
    /// a target on the winning side.
    fn price(&self, level: Level, losing: bool) -> Decimal {
        level_price(level, self.entry.side, self.filled, losing)
    }

    /// The price `offset` from the fill, on the losing or winning side.
    fn away(&self, offset: Decimal, losing: bool) -> Decimal {
        away(self.entry.side, self.filled, offset, losing)
    }

    /// One protective order: a stop for a stop-loss, a limit for a
    /// take-profit, both closing the entry's side. A stop the venue trails
    /// natively has no trigger price: it trails from the fill on.
    fn leg(&self, role: OrderRole, index: usize, quantity: Decimal, price: Decimal) -> Leg {
        let stop = role == OrderRole::StopLoss;
        let trailing_delta_bips = self.trailing_delta_bips.filter(|_| stop);
        // A take-profit at the market triggers at its level, as a stop.
        let triggered = stop || self.compiled.order.take_profit_at_market;
        let request = OrderRequest {
            request_id: format!(
                "{}:{}:{index}",
                order_request_id(self.execution),
                role.word()
            ),
            exchange: self.compiled.exchange.clone(),
            account: self.compiled.account.clone(),
            symbol: self.entry.symbol().to_string(),
            side: self.entry.side.opposite(),
            order_type: if triggered {
                OrderType::Stop
            } else {
                OrderType::Limit
            },
            time_in_force: TimeInForce::Gtc,
            quantity,
            price: (!triggered).then_some(price),
            stop_price: (triggered && trailing_delta_bips.is_none()).then_some(price),
            reference_price: None,
            trailing_delta_bips,
            // A perpetual's protective orders only ever close it.
            reduce_only: self.entry.instrument.kind == InstrumentKind::Perpetual,
            attachment: self
                .attached
                .map(|_| Attachment::ExitOf(self.entry.client_order_id.clone())),
        };
        let mut origin = origin_of(self.compiled, self.execution);
        origin.role = Some(role);
        origin.bracket_id = self.entry.id.clone();
        (request, origin)
    }

    /// `leg` as a member of the bracket's OCO group `index`.
    fn grouped(&self, (request, mut origin): Leg, index: usize) -> Leg {
        origin.oco_group = match self.attached {
            Some(exits) => exits.group.clone(),
            None => client_order_id(&format!("{}:oco:{index}", self.entry.id)),
        };
        (request, origin)
    }
}

/// The price of a protective level for an entry on `side` at `from`: a
/// stop sits on the losing side, a target on the winning side.
fn level_price(level: Level, side: Side, from: Decimal, losing: bool) -> Decimal {
    match level {
        Level::Price(price) => price,
        Level::OffsetBps(bps) => away(side, from, from * bps / BPS, losing),
    }
}

/// The price `offset` from `from`, on the losing or winning side of an
/// entry on `side`.
fn away(side: Side, from: Decimal, offset: Decimal, losing: bool) -> Decimal {
    if (side == Side::Buy) == losing {
        from - offset
    } else {
        from + offset
    }
}

/// The exits the entry `planned` under `request_id` carries to a venue
/// that attaches them, priced from its limit or reference price; `None`
/// unless the plan attaches its exits (a stop-loss and one take-profit,
/// see `OrderPlan::attach_exits`) and the order opens a position.
pub(super) fn attachment(plan: &OrderPlan, planned: &Plan, request_id: &str) -> Option<Attachment> {
    let (true, false, Some(stop), [(target, _)]) = (
        plan.attach_exits,
        planned.reduces(),
        plan.stop_loss,
        plan.take_profits.as_slice(),
    ) else {
        return None;
    };
    let from = planned.limit_price.unwrap_or(planned.price);
    Some(Attachment::Exits(AttachedExits {
        group: client_order_id(&format!("{request_id}:oco:0")),
        stop_price: level_price(stop, planned.side, from, true),
        target_price: level_price(*target, planned.side, from, false),
    }))
}
