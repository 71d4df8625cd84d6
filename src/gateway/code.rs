//! The HTTP status that goes with each answer of the gateway. The codes
//! themselves are JSON-RPC, shared with `serve --forward`: [`crate::proto::bridge`].

pub use crate::proto::bridge::*;
use hyper::StatusCode;

/// The HTTP status the gateway sends with an error reply it built itself.
pub fn status_of(code: i64) -> StatusCode {
    match code {
        FIFO_UNAVAILABLE => StatusCode::SERVICE_UNAVAILABLE,
        FIFO_PERMISSION | FIFO_BAD_REPLY => StatusCode::BAD_GATEWAY,
        FIFO_TIMEOUT => StatusCode::GATEWAY_TIMEOUT,
        BODY_TOO_LARGE => StatusCode::PAYLOAD_TOO_LARGE,
        FORBIDDEN | METHOD_REFUSED => StatusCode::FORBIDDEN,
        MISDIRECTED => StatusCode::MISDIRECTED_REQUEST,
        UNSUPPORTED_MEDIA_TYPE => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        UNAUTHORIZED => StatusCode::UNAUTHORIZED,
        REQUEST_TIMEOUT => StatusCode::REQUEST_TIMEOUT,
        OVERLOADED => StatusCode::SERVICE_UNAVAILABLE,
        NOT_FOUND => StatusCode::NOT_FOUND,
        // mi_http answers every JSON-RPC level error (parse error, invalid
        // request, unknown method, …) with 200 and the error object.
        c if (-32700..=-32600).contains(&c) => StatusCode::OK,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        assert_eq!(status_of(FIFO_TIMEOUT), StatusCode::GATEWAY_TIMEOUT);
        assert_eq!(status_of(FIFO_UNAVAILABLE), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(status_of(-32700), StatusCode::OK);
        assert_eq!(status_of(-32600), StatusCode::OK);
        assert_eq!(status_of(GATEWAY_ERROR), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(status_of(MISDIRECTED), StatusCode::MISDIRECTED_REQUEST);
        assert_eq!(
            status_of(UNSUPPORTED_MEDIA_TYPE),
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
        assert_eq!(status_of(UNAUTHORIZED), StatusCode::UNAUTHORIZED);
        assert_eq!(status_of(METHOD_REFUSED), StatusCode::FORBIDDEN);
    }
}
