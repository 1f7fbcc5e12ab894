//! The mock's HTTP/1.1 over its own socket handling, and the faults a
//! test queues for a route.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex},
    time::Duration,
};

use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use super::{Fault, Route, State, routes::route_request};

/// An HTTP answer.
pub(super) struct Answer {
    pub(super) status: u16,
    pub(super) body: Value,
    pub(super) headers: Vec<(&'static str, String)>,
}

/// An answer with a JSON body.
pub(super) fn answer(status: u16, body: Value) -> Answer {
    Answer {
        status,
        body,
        headers: Vec::new(),
    }
}

/// Binance's error body.
pub(super) fn error(status: u16, code: i64, msg: &str) -> Answer {
    answer(status, json!({"code": code, "msg": msg}))
}

/// Answers the requests of one connection until it closes.
pub(super) async fn serve_connection(mut stream: TcpStream, state: Arc<Mutex<State>>) {
    loop {
        let Some(request) = read_request(&mut stream).await else {
            return;
        };
        let (answer, fault) = handle(&state, &request);
        match fault {
            Some(Fault::DropConnection | Fault::LoseAnswer) => return,
            Some(Fault::Hang) => {
                tokio::time::sleep(Duration::from_secs(120)).await;
                return;
            }
            Some(Fault::SlowAnswer(wait)) => tokio::time::sleep(wait).await,
            _ => {}
        }
        let weight = {
            let mut s = state.lock().expect("mock state");
            s.weight += 1;
            s.weight
        };
        let body = answer.body.to_string();
        let mut head = format!(
            "HTTP/1.1 {} Mock\r\nContent-Type: application/json\r\nContent-Length: {}\r\nX-MBX-USED-WEIGHT-1M: {weight}\r\n",
            answer.status,
            body.len()
        );
        for (name, value) in &answer.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        if stream.write_all(head.as_bytes()).await.is_err()
            || stream.write_all(body.as_bytes()).await.is_err()
        {
            return;
        }
    }
}

/// One request as the mock read it.
pub(super) struct Request {
    pub(super) method: String,
    pub(super) path: String,
    pub(super) query: String,
    pub(super) api_key: Option<String>,
}

async fn read_request(stream: &mut TcpStream) -> Option<Request> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let end = loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        let read = stream.read(&mut chunk).await.ok()?;
        if read == 0 || buffer.len() > 65_536 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..read]);
    };
    let head = String::from_utf8_lossy(&buffer[..end]).to_string();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_string();
    let target = first.next()?.to_string();
    let mut api_key = None;
    let mut body_length = 0usize;
    for line in lines {
        let (name, value) = line.split_once(':')?;
        match name.trim().to_ascii_lowercase().as_str() {
            "x-mbx-apikey" => api_key = Some(value.trim().to_string()),
            "content-length" => body_length = value.trim().parse().ok()?,
            _ => {}
        }
    }
    let mut remaining = body_length.saturating_sub(buffer.len() - end - 4);
    while remaining > 0 {
        let read = stream.read(&mut chunk).await.ok()?;
        if read == 0 {
            return None;
        }
        remaining = remaining.saturating_sub(read);
    }
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    Some(Request {
        method,
        path: path.to_string(),
        query: query.to_string(),
        api_key,
    })
}

/// The query's parameters (values as sent, still encoded).
pub(super) fn params(query: &str) -> HashMap<String, String> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn handle(state: &Mutex<State>, request: &Request) -> (Answer, Option<Fault>) {
    let mut s = state.lock().expect("mock state");
    let route = match (request.method.as_str(), request.path.as_str()) {
        ("POST", "/api/v3/order") => Some(Route::PlaceOrder),
        ("GET", "/api/v3/order") => Some(Route::QueryOrder),
        ("POST", "/api/v3/orderList/oco") => Some(Route::PlaceOrderList),
        _ => None,
    };
    let fault = route.and_then(|r| s.faults.get_mut(&r).and_then(VecDeque::pop_front));
    match fault {
        Some(Fault::ServerError) => return (error(500, -1000, "An unknown error occurred"), fault),
        Some(Fault::DropConnection) => return (answer(500, Value::Null), fault),
        Some(Fault::TooManyRequests { retry_after_secs }) => {
            let mut a = error(
                429,
                -1003,
                "Too many requests; current limit is 6000 request weight per 1 MINUTE.",
            );
            a.headers
                .push(("Retry-After", retry_after_secs.to_string()));
            return (a, fault);
        }
        Some(Fault::Banned { retry_after_secs }) => {
            let mut a = error(418, -1003, "Way too many requests; IP banned.");
            a.headers
                .push(("Retry-After", retry_after_secs.to_string()));
            return (a, fault);
        }
        _ => {}
    }
    let processed = route_request(&mut s, request);
    let answer = match fault {
        Some(Fault::ServerErrorAfterProcessing) => error(500, -1000, "An unknown error occurred"),
        Some(Fault::BackendTimeout) => error(
            503,
            -1007,
            "Timeout waiting for response from backend server. Send status unknown; execution status unknown.",
        ),
        _ => processed,
    };
    (answer, fault)
}
