//! A macro for services of the contract whose bodies a later release
//! implements: every RPC answers UNIMPLEMENTED with an `ErrorInfo` naming it.

/// Implements a tonic service trait with UNIMPLEMENTED answers.
macro_rules! unimplemented_service {
    (
        $service:ty, $trait:path, $name:literal,
        unary { $($method:ident($request:ty) -> $response:ty = $rpc:literal;)* }
        streaming { $($smethod:ident, $stream:ident($srequest:ty) -> $sresponse:ty = $srpc:literal;)* }
    ) => {
        #[tonic::async_trait]
        impl $trait for $service {
            $(
                async fn $method(
                    &self,
                    _request: tonic::Request<$request>,
                ) -> Result<tonic::Response<$response>, tonic::Status> {
                    Err($crate::api_error::ApiError::Unimplemented { rpc: concat!($name, "/", $rpc) }.into())
                }
            )*
            $(
                type $stream = std::pin::Pin<
                    Box<dyn futures::Stream<Item = Result<$sresponse, tonic::Status>> + Send>,
                >;

                async fn $smethod(
                    &self,
                    _request: tonic::Request<$srequest>,
                ) -> Result<tonic::Response<Self::$stream>, tonic::Status> {
                    Err($crate::api_error::ApiError::Unimplemented { rpc: concat!($name, "/", $srpc) }.into())
                }
            )*
        }
    };
}

pub(crate) use unimplemented_service;
