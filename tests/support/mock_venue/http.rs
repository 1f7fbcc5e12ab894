//! HTTP/1.1 over the mock's own socket handling, with the faults applied
//! where a real network would apply them.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use serde_json::Value;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use super::{Fault, Request, Venue, handle};

/// Answers the requests of one connection until it closes.
pub(super) async fn serve_connection<V: Venue>(mut stream: TcpStream, venue: Arc<Mutex<V>>) {
    loop {
        let Some(request) = read_request(&mut stream).await else {
            return;
        };
        let hold = venue.lock().expect("mock state").hold(&request);
        if let Some((wake, at_most)) = hold {
            let _ = tokio::time::timeout(at_most, wake.notified()).await;
        }
        let (answer, fault) = handle(&venue, &request);
        match fault {
            Some(Fault::DropConnection | Fault::LoseAnswer) => return,
            Some(Fault::ResetConnection) => {
                // A zero linger makes the close a reset.
                let _ = stream.set_zero_linger();
                return;
            }
            Some(Fault::Hang) => {
                tokio::time::sleep(Duration::from_secs(120)).await;
                return;
            }
            Some(Fault::SlowAnswer(wait)) => tokio::time::sleep(wait).await,
            _ => {}
        }
        let extra = venue.lock().expect("mock state").answer_headers();
        let (content_type, body) = match &answer.body {
            Value::String(text) => ("text/plain; charset=utf-8", text.clone()),
            json => ("application/json", json.to_string()),
        };
        let mut head = format!(
            "HTTP/1.1 {} Mock\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n",
            answer.status,
            body.len()
        );
        for (name, value) in extra.iter().chain(&answer.headers) {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        let sent = if fault == Some(Fault::TruncatedBody) {
            &body.as_bytes()[..body.len() / 2]
        } else {
            body.as_bytes()
        };
        if stream.write_all(head.as_bytes()).await.is_err()
            || stream.write_all(sent).await.is_err()
            || fault == Some(Fault::TruncatedBody)
        {
            return;
        }
    }
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
    let mut headers = HashMap::new();
    for line in lines {
        let (name, value) = line.split_once(':')?;
        headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
    }
    let length: usize = match headers.get("content-length") {
        Some(length) => length.parse().ok()?,
        None => 0,
    };
    let mut body = buffer[end + 4..].to_vec();
    while body.len() < length {
        let read = stream.read(&mut chunk).await.ok()?;
        if read == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..read]);
    }
    let (path, query) = target.split_once('?').unwrap_or((&target, ""));
    Some(Request {
        method,
        path: path.to_string(),
        query: query.to_string(),
        headers,
        body: String::from_utf8(body).ok()?,
    })
}
