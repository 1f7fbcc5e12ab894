//! `tpctl order …`, `tpctl exchanges` and `tpctl balances`.

use crate::cli_error::CliError;
use clap::{Args, Subcommand, ValueEnum};
use futures::StreamExt;
use serde_json::{Value, json};
use tradeplane_api::*;
use tradeplane_client::{
    Client,
    format::{Output, object_table, print, time_text},
    proto_json::ProtoMessage,
};

/// Order commands.
#[derive(Subcommand)]
pub enum OrderCommand {
    /// Places an order; `--request-id` makes a retry return the same order.
    Place(PlaceArgs),
    /// Cancels an open order.
    Cancel {
        /// Order id, as `order list` or `order place` prints it.
        id: String,
    },
    /// One order, with its fills and transitions.
    Get {
        /// Order id, as `order list` or `order place` prints it.
        id: String,
    },
    /// Orders, newest first.
    List {
        /// Only orders on this exchange, e.g. paper or binance.
        #[arg(long, default_value = "")]
        exchange: String,
        /// Only orders in this symbol, in canonical form, e.g. BTC/USDT.
        #[arg(long, default_value = "")]
        symbol: String,
        /// Most orders to show (the server caps a page at 1000).
        #[arg(long, default_value_t = 50)]
        limit: i32,
        /// Continue from this token: the previous page's next_page_token (in -o json).
        #[arg(long, default_value = "")]
        page_token: String,
    },
    /// Streams order changes as they happen.
    Watch,
}

#[derive(Args)]
pub struct PlaceArgs {
    /// Symbol to trade, in any common spelling, e.g. BTCUSDT or BTC/USDT.
    #[arg(long)]
    symbol: String,
    /// Whether to buy or sell the base asset.
    #[arg(long, value_enum)]
    side: SideArg,
    /// market, limit, stop or stop-limit; limit and stop-limit need --price,
    /// stop and stop-limit need --stop-price.
    #[arg(long, value_enum, default_value = "market")]
    r#type: TypeArg,
    /// Quantity in the base asset (decimal), e.g. 0.01 for BTCUSDT.
    #[arg(long)]
    quantity: String,
    /// Limit price, for limit and stop-limit orders.
    #[arg(long, default_value = "")]
    price: String,
    /// Trigger price, for stop and stop-limit orders.
    #[arg(long, default_value = "")]
    stop_price: String,
    /// The current price (the paper exchange fills market orders at it).
    #[arg(long, default_value = "")]
    reference_price: String,
    /// Exchange name from the server's configuration (see `tpctl exchanges`).
    #[arg(long, default_value = "paper")]
    exchange: String,
    /// Account at the exchange (see `tpctl exchanges`).
    #[arg(long, default_value = "default")]
    account: String,
    /// Idempotency key; generated when absent.
    #[arg(long, default_value = "")]
    request_id: String,
    /// Perpetuals: only reduce the position (refused if it would increase
    /// or flip it).
    #[arg(long)]
    reduce_only: bool,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum SideArg {
    Buy,
    Sell,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum TypeArg {
    Market,
    Limit,
    Stop,
    StopLimit,
}

/// An order in the JSON shape `-o json` prints.
fn order_json(order: &Order) -> Value {
    json!({
        "id": order.id, "client_order_id": order.client_order_id, "exchange": order.exchange,
        "account": order.account,
        "exchange_order_id": order.exchange_order_id,
        "symbol": order.instrument.as_ref().map(|i| i.symbol.clone()).unwrap_or_default(),
        "side": Side::word_of(order.side),
        "type": OrderType::word_of(order.r#type),
        "quantity": order.quantity, "price": order.price, "stop_price": order.stop_price,
        "trailing_delta_bips": order.trailing_delta_bips,
        "reduce_only": order.reduce_only,
        "status": OrderStatus::word_of(order.status),
        "status_reason": order.status_reason,
        "filled_quantity": order.filled_quantity, "average_fill_price": order.average_fill_price,
        "fee_total": order.fee_total, "fee_asset": order.fee_asset,
        "reference_price": order.reference_price,
        "role": if order.role == 0 { "" } else { OrderRole::word_of(order.role) },
        "bracket_id": order.bracket_id, "oco_group": order.oco_group, "replaces": order.replaces,
        "create_time": time_text(order.create_time.as_ref()),
        "update_time": time_text(order.update_time.as_ref()),
        "fills": order.fills.iter().map(|f| json!({
            "trade_id": f.trade_id, "quantity": f.quantity, "price": f.price, "fee": f.fee,
            "fee_asset": f.fee_asset, "time": time_text(f.time.as_ref()),
        })).collect::<Vec<_>>(),
        "transitions": order.transitions.iter().map(|t| json!({
            "status": OrderStatus::word_of(t.status),
            "time": time_text(t.time.as_ref()), "note": t.note,
        })).collect::<Vec<_>>(),
    })
}

const ORDER_COLUMNS: [&str; 16] = [
    "id",
    "create_time",
    "exchange",
    "symbol",
    "side",
    "type",
    "quantity",
    "price",
    "stop_price",
    "status",
    "filled_quantity",
    "average_fill_price",
    "role",
    "reduce_only",
    "bracket_id",
    "oco_group",
];

fn print_orders(output: Output, response: &ListOrdersResponse) {
    let values: Vec<Value> = response.orders.iter().map(order_json).collect();
    let json = json!({ "orders": values, "next_page_token": response.next_page_token });
    print(output, response, json, || {
        object_table(&values, &ORDER_COLUMNS)
    });
}

/// Runs an order command.
pub async fn run(client: &Client, command: OrderCommand, output: Output) -> Result<(), CliError> {
    let mut orders = client.orders();
    match command {
        OrderCommand::Place(args) => {
            let request = PlaceOrderRequest {
                request_id: if args.request_id.is_empty() {
                    uuid::Uuid::now_v7().to_string()
                } else {
                    args.request_id
                },
                exchange: args.exchange,
                account: args.account,
                symbol: args.symbol,
                side: match args.side {
                    SideArg::Buy => Side::Buy,
                    SideArg::Sell => Side::Sell,
                } as i32,
                r#type: match args.r#type {
                    TypeArg::Market => OrderType::Market,
                    TypeArg::Limit => OrderType::Limit,
                    TypeArg::Stop => OrderType::Stop,
                    TypeArg::StopLimit => OrderType::StopLimit,
                } as i32,
                quantity: args.quantity,
                price: args.price,
                stop_price: args.stop_price,
                reference_price: args.reference_price,
                reduce_only: args.reduce_only,
                ..Default::default()
            };
            let response = orders.place_order(request).await?.into_inner();
            print_one(output, &response, response.order.as_ref());
        }
        OrderCommand::Cancel { id } => {
            let response = orders
                .cancel_order(CancelOrderRequest {
                    id,
                    ..Default::default()
                })
                .await?
                .into_inner();
            print_one(output, &response, response.order.as_ref());
        }
        OrderCommand::Get { id } => {
            let response = orders.get_order(GetOrderRequest { id }).await?.into_inner();
            print_one(output, &response, response.order.as_ref());
        }
        OrderCommand::List {
            exchange,
            symbol,
            limit,
            page_token,
        } => {
            let response = orders
                .list_orders(ListOrdersRequest {
                    page_size: limit,
                    page_token,
                    filter: Some(OrderFilter {
                        exchange,
                        symbol,
                        ..Default::default()
                    }),
                })
                .await?
                .into_inner();
            print_orders(output, &response);
        }
        OrderCommand::Watch => {
            let mut stream = orders
                .watch_orders(WatchOrdersRequest::default())
                .await?
                .into_inner();
            while let Some(item) = stream.next().await {
                let item = item?;
                if item.missed > 0 {
                    eprintln!("({} changes missed: this watcher fell behind)", item.missed);
                }
                if item.order.is_some() {
                    print_one(output, &item, item.order.as_ref());
                }
            }
        }
    }
    Ok(())
}

/// Prints the order of `response` (one answer or event).
fn print_one(output: Output, response: &impl ProtoMessage, order: Option<&Order>) {
    let order = order.cloned().unwrap_or_default();
    let value = order_json(&order);
    print(output, response, value.clone(), || {
        let mut line = format!(
            "{} {} {} {} {} {}: {}",
            value["id"].as_str().unwrap_or_default(),
            value["exchange"].as_str().unwrap_or_default(),
            value["side"].as_str().unwrap_or_default(),
            value["quantity"].as_str().unwrap_or_default(),
            value["symbol"].as_str().unwrap_or_default(),
            value["type"].as_str().unwrap_or_default(),
            value["status"].as_str().unwrap_or_default(),
        );
        if !order.average_fill_price.is_empty() {
            line.push_str(&format!(
                " at {} (fee {} {})",
                order.average_fill_price, order.fee_total, order.fee_asset
            ));
        }
        if !order.status_reason.is_empty() {
            line.push_str(&format!(" ({})", order.status_reason));
        }
        line
    });
}

/// `tpctl exchanges`.
pub async fn exchanges(client: &Client, output: Output) -> Result<(), CliError> {
    let response = client
        .orders()
        .list_exchanges(ListExchangesRequest {})
        .await?
        .into_inner();
    let values: Vec<Value> = response
        .exchanges
        .iter()
        .map(|e| {
            json!({
                "name": e.name, "account": e.account, "kind": e.kind, "live": e.live,
                "status": ExchangeStatus::word_of(e.status),
                "breaker_state": CircuitBreakerState::word_of(e.breaker_state),
                "weight": if e.weight_limit > 0 { format!("{}/{}", e.used_weight, e.weight_limit) } else { String::new() },
            })
        })
        .collect();
    print(output, &response, json!({ "exchanges": values }), || {
        object_table(
            &values,
            &[
                "name",
                "account",
                "kind",
                "live",
                "status",
                "breaker_state",
                "weight",
            ],
        )
    });
    Ok(())
}

/// `tpctl balances`: what `account` at `exchange` holds.
pub async fn balances(
    client: &Client,
    exchange: String,
    account: String,
    output: Output,
) -> Result<(), CliError> {
    let response = client
        .orders()
        .get_balances(GetBalancesRequest { exchange, account })
        .await?
        .into_inner();
    let values: Vec<Value> = response
        .balances
        .iter()
        .map(|b| json!({ "asset": b.asset, "free": b.free, "locked": b.locked }))
        .collect();
    print(output, &response, json!({ "balances": values }), || {
        object_table(&values, &["asset", "free", "locked"])
    });
    Ok(())
}

/// `tpctl positions`.
pub async fn positions(
    client: &Client,
    exchange: String,
    account: String,
    output: Output,
) -> Result<(), CliError> {
    let response = client
        .orders()
        .get_positions(GetPositionsRequest { exchange, account })
        .await?
        .into_inner();
    let values: Vec<Value> = response
        .positions
        .iter()
        .map(|p| {
            json!({
                "symbol": p.symbol, "quantity": p.quantity, "entry_price": p.entry_price,
                "mark_price": p.mark_price, "unrealized_pnl": p.unrealized_pnl,
                "realized_pnl": p.realized_pnl, "leverage": p.leverage,
                "margin_mode": if p.margin_mode == 0 { "" } else { MarginMode::word_of(p.margin_mode) },
                "margin": p.margin, "liquidation_price": p.liquidation_price,
            })
        })
        .collect();
    print(output, &response, json!({ "positions": values }), || {
        object_table(
            &values,
            &[
                "symbol",
                "quantity",
                "entry_price",
                "mark_price",
                "unrealized_pnl",
                "realized_pnl",
                "leverage",
                "margin_mode",
                "margin",
                "liquidation_price",
            ],
        )
    });
    Ok(())
}
