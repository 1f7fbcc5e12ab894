//! The gRPC codec of every tradeplane service: prost's, except that a
//! message that does not decode (invalid UTF-8 in a string, a truncated
//! length, an over-long varint, an unknown wire type, tag 0) is the
//! sender's error: INVALID_ARGUMENT with reason `MALFORMED_REQUEST`, not
//! tonic's default INTERNAL; and that a request over the size limits of
//! `limits.proto` is refused with reason `FIELD_LIMIT`, naming each field.

use std::collections::HashMap;

use bytes::{Buf, BufMut, Bytes};
use prost::Message;
use tonic::{
    Code, Status,
    codec::{BufferSettings, Codec, DecodeBuf, Decoder, EncodeBuf, Encoder},
};
use tonic_prost::{ProstCodec, ProstDecoder, ProstEncoder};
use tonic_types::{ErrorDetails, StatusExt};

use crate::limits::Limited;

/// The `ErrorInfo.domain` of every tradeplane error.
pub const ERROR_DOMAIN: &str = "tradeplane";

/// The `ErrorInfo.reason` of a message that does not decode.
pub const MALFORMED_REQUEST: &str = "MALFORMED_REQUEST";

/// The `ErrorInfo.reason` of a request with a field over its size limit.
pub const FIELD_LIMIT: &str = "FIELD_LIMIT";

/// The most fields one refusal names (the details travel in a header).
const NAMED_FIELDS: usize = 10;

/// Prost's codec with [`MalformedDecoder`] (named in build.rs).
#[derive(Debug, Clone, Default)]
pub struct ApiCodec<T, U>(ProstCodec<T, U>);

impl<T, U> Codec for ApiCodec<T, U>
where
    T: Message + Send + 'static,
    U: Message + Default + Limited + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = MalformedDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        self.0.encoder()
    }

    fn decoder(&mut self) -> Self::Decoder {
        MalformedDecoder(self.0.decoder())
    }
}

/// Prost's decoder, answering an undecodable message as the sender's
/// error.
#[derive(Debug, Clone)]
pub struct MalformedDecoder<U>(ProstDecoder<U>);

impl<U: Message + Default + Limited> Decoder for MalformedDecoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        let message = self
            .0
            .decode(buf)
            .map_err(|status| malformed(status.message()))?;
        if U::REQUEST
            && let Some(message) = &message
        {
            let mut violations = Vec::new();
            message.check_limits("", &mut violations);
            if !violations.is_empty() {
                return Err(over_limits(violations));
            }
        }
        Ok(message)
    }

    fn buffer_settings(&self) -> BufferSettings {
        self.0.buffer_settings()
    }
}

/// INVALID_ARGUMENT with `ErrorInfo { reason: FIELD_LIMIT }` and a
/// BadRequest naming each field over its limit.
fn over_limits(violations: crate::limits::Violations) -> Status {
    let mut details = ErrorDetails::with_error_info(FIELD_LIMIT, ERROR_DOMAIN, HashMap::new());
    let message = format!("{}: {}", violations[0].0, violations[0].1);
    for (field, description) in violations.into_iter().take(NAMED_FIELDS) {
        details.add_bad_request_violation(field, description);
    }
    Status::with_error_details(Code::InvalidArgument, message, details)
}

/// INVALID_ARGUMENT with `ErrorInfo { reason: MALFORMED_REQUEST }`.
pub fn malformed(why: &str) -> Status {
    let details = ErrorDetails::with_error_info(MALFORMED_REQUEST, ERROR_DOMAIN, HashMap::new());
    Status::with_error_details(
        Code::InvalidArgument,
        format!("the request is not a valid protobuf message: {why}"),
        details,
    )
}

/// Calls the RPC at `path` (`/package.Service/Method`) over `channel` with
/// `body` as its one request message and `authorization: Bearer <key>`;
/// the answers, as bytes. For tools that call any RPC with bytes they made.
pub async fn call_raw(
    channel: tonic::transport::Channel,
    path: &str,
    key: &str,
    body: Bytes,
) -> Result<tonic::Streaming<Bytes>, Status> {
    let path = tonic::codegen::http::uri::PathAndQuery::try_from(path)
        .map_err(|e| Status::invalid_argument(format!("`{path}` is not an RPC path: {e}")))?;
    let bearer = format!("Bearer {key}")
        .parse()
        .map_err(|_| Status::invalid_argument("the key is not ASCII"))?;
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready()
        .await
        .map_err(|e| Status::unavailable(e.to_string()))?;
    let mut request = tonic::Request::new(tokio_stream::once(body));
    request.metadata_mut().insert("authorization", bearer);
    Ok(grpc.streaming(request, path, RawCodec).await?.into_inner())
}

/// A codec that sends and receives message bytes as they are: for tools
/// that call any RPC by path with bytes they made (the hostile-input test,
/// the fuzzer).
#[derive(Debug, Clone, Copy, Default)]
pub struct RawCodec;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}
