//! The chat adapters' outbound plumbing over the process's one client (`crate::outbound`): the
//! HTTP types they use, a WebSocket connect over the same rustls configuration (system roots
//! plus a platform's `ca_file`), and the one reconnect [`Backoff`]. Tokens travel in headers
//! only and are never part of an error.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream};

pub use crate::outbound::{Body, HttpClient, HttpError};

/// The one reconnect backoff (capped exponential, equal jitter), shared with MQTT.
pub use crate::mqtt::backoff::Backoff;

/// A chat server's WebSocket.
pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A random number in `[0, 1]` for [`Backoff::next_delay`].
pub fn jitter() -> f64 {
    rand::random::<f64>()
}

/// Opens a WebSocket to `url` (`ws://` or `wss://`), with a bearer token when not empty,
/// trusting the system's roots plus `ca_file` (when given).
pub async fn connect(url: &str, token: &str, ca_file: Option<&Path>) -> Result<Socket, HttpError> {
    let failed = |reason: String| HttpError::WebSocket {
        url: url.split('?').next().unwrap_or(url).to_string(),
        reason,
    };
    let mut request = url
        .into_client_request()
        .map_err(|err| failed(err.to_string()))?;
    if !token.is_empty() {
        let value = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| failed("the token is not a valid header value".into()))?;
        request.headers_mut().insert("Authorization", value);
    }
    let connector = if url.starts_with("wss://") {
        Connector::Rustls(Arc::new(crate::outbound::tls_config(ca_file)?))
    } else {
        Connector::Plain
    };
    let connecting =
        tokio_tungstenite::connect_async_tls_with_config(request, None, true, Some(connector));
    match tokio::time::timeout(Duration::from_secs(20), connecting).await {
        Ok(Ok((socket, _response))) => Ok(socket),
        Ok(Err(err)) => Err(failed(err.to_string())),
        Err(_) => Err(failed("timed out".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn errors_never_hold_the_token() {
        let err = connect("ws://127.0.0.1:1/socket?ticket=abc", "xapp-secret", None)
            .await
            .expect_err("nothing listens");
        assert!(!err.to_string().contains("xapp-secret"), "{err}");
        assert!(
            !err.to_string().contains("ticket"),
            "the URL's query is not shown: {err}"
        );
    }
}
