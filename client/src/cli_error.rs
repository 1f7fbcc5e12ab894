//! What can make a tpctl command fail, what it tells the user, and its
//! exit code. Codes follow grpcurl: a failed call exits 64 + its gRPC code
//! (UNAUTHENTICATED 80, NOT_FOUND 69), a usage error 2, anything else 1.

use std::process::ExitCode;

use tonic::{Code, Status};
use tradeplane_client::describe_status;

/// The exit codes, for `tpctl --help`.
pub const EXIT_CODES: &str = "\
Exit codes:
  0        success
  1        any other failure (cannot connect, cannot read a file, …)
  2        usage error
  64 + n   the call failed with gRPC code n, as grpcurl exits:
           65 CANCELLED, 67 INVALID_ARGUMENT, 68 DEADLINE_EXCEEDED,
           69 NOT_FOUND, 70 ALREADY_EXISTS, 71 PERMISSION_DENIED,
           72 RESOURCE_EXHAUSTED, 73 FAILED_PRECONDITION, 78 UNAVAILABLE,
           80 UNAUTHENTICATED";

/// Why a command failed.
#[derive(Debug)]
pub enum CliError {
    /// The command line asks for something impossible.
    Usage(String),
    /// A call the server (or the transport) refused.
    Call(Status),
    /// Anything else: connecting, files, a bench that could not run.
    Other(String),
}

impl From<Status> for CliError {
    fn from(status: Status) -> Self {
        // tonic reports its own per-call timeout as CANCELLED.
        if status.code() == Code::Cancelled && status.message() == "Timeout expired" {
            return Self::Call(Status::deadline_exceeded(
                "no answer within --timeout (the call may still take effect)",
            ));
        }
        Self::Call(status)
    }
}

impl From<String> for CliError {
    fn from(message: String) -> Self {
        Self::Other(message)
    }
}

impl From<&str> for CliError {
    fn from(message: &str) -> Self {
        Self::Other(message.to_string())
    }
}

impl CliError {
    /// The process exit code.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Self::Usage(_) => ExitCode::from(2),
            Self::Other(_) => ExitCode::FAILURE,
            Self::Call(status) => ExitCode::from(64 + status.code() as u8),
        }
    }

    /// What to print, with a hint where the fix is on the user's side.
    /// `plaintext` says whether the client spoke plaintext.
    pub fn describe(&self, plaintext: bool) -> String {
        let status = match self {
            Self::Usage(message) | Self::Other(message) => return message.clone(),
            Self::Call(status) => status,
        };
        let mut text = describe_status(status);
        let hint = match status.code() {
            Code::Unauthenticated => Some("set TRADEPLANE_API_KEY or pass --api-key"),
            Code::PermissionDenied => Some("this API key's role may not do this"),
            Code::Cancelled | Code::Unavailable | Code::Unknown | Code::Internal
                if plaintext && transport_failure(status) =>
            {
                Some("if the server uses TLS, give an https:// address or --tls")
            }
            _ => None,
        };
        if let Some(hint) = hint {
            text.push_str(&format!("\n  hint: {hint}"));
        }
        text
    }
}

/// Whether `status` is the transport failing rather than the server
/// answering (what a plaintext client sees from a TLS server).
fn transport_failure(status: &Status) -> bool {
    status.metadata().is_empty()
        && [
            "operation was canceled",
            "transport error",
            "h2 protocol error",
        ]
        .iter()
        .any(|text| status.message().contains(text))
}
