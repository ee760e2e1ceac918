//! Connections to the server, how their failures become
//! [`Error::Connection`], and the replies the scripts give.

use std::io;
use std::time::Duration;

use ::redis::{Client, Cmd, ConnectionLike, RedisError, ScriptInvocation, Value};

use crate::error::Error;

/// The longest a command asks the server to block (`BLOCK`, `BLPOP`).
pub(crate) const MAX_BLOCK: Duration = Duration::from_millis(500);

/// How to reach the server: the client, the bound on every network wait,
/// and the URL to name in errors (with any password hidden).
pub(crate) struct Connector {
    client: Client,
    shown_url: String,
    /// Bounds connecting, and every reply on top of how long the server
    /// itself was asked to block.
    pub(crate) timeout: Duration,
}

impl Connector {
    pub(crate) fn new(client: Client, url: &str, timeout: Duration) -> Connector {
        Connector {
            client,
            shown_url: hide_password(url),
            timeout,
        }
    }

    /// The URL as errors show it.
    pub(crate) fn shown_url(&self) -> &str {
        &self.shown_url
    }

    /// A new connection, or the error of kind `ConnectionRefused`,
    /// `TimedOut`, ... that kept it from being made.
    pub(crate) fn connect(&self) -> Result<Conn, Error> {
        let fail = |err: RedisError| self.fault("connecting", &err);
        let inner = self
            .client
            .get_connection_with_timeout(self.timeout)
            .map_err(fail)?;
        let mut conn = Conn {
            inner,
            timeout: self.timeout,
            id: 0,
        };
        conn.set_wait().map_err(fail)?;
        conn.inner
            .set_write_timeout(Some(self.timeout))
            .map_err(fail)?;
        // The server's id for this connection, so that `close` can wake it
        // with CLIENT UNBLOCK while it waits.
        conn.id = ::redis::cmd("CLIENT")
            .arg("ID")
            .query(&mut conn.inner)
            .map_err(fail)?;
        Ok(conn)
    }

    /// `err`, met while `doing` something, as the error the caller sees.
    pub(crate) fn fault(&self, doing: &str, err: &RedisError) -> Error {
        Error::Connection {
            url: self.shown_url.clone(),
            message: format!("{doing}: {err}"),
            kind: io_kind(err),
        }
    }
}

/// One connection. Each stream owns one while it is open, because it
/// blocks on it; the backend keeps idle ones for short operations.
pub(crate) struct Conn {
    pub(crate) inner: ::redis::Connection,
    /// The bound on a reply beyond what the server was asked to block.
    timeout: Duration,
    /// The server's id for this connection (CLIENT ID).
    pub(crate) id: i64,
}

impl Conn {
    /// Sets the socket's read timeout once, to the longest the server is
    /// ever asked to block plus the connect timeout: one bound for every
    /// reply, so that no command pays for changing it.
    fn set_wait(&mut self) -> Result<(), RedisError> {
        let bound = self.timeout.saturating_add(MAX_BLOCK);
        self.inner.set_read_timeout(Some(bound))
    }

    /// Runs a command.
    pub(crate) fn query(&mut self, cmd: &Cmd) -> Result<Value, RedisError> {
        cmd.query(&mut self.inner)
    }

    /// Runs a script.
    pub(crate) fn invoke(&mut self, script: &ScriptInvocation<'_>) -> Result<Value, RedisError> {
        script.invoke(&mut self.inner)
    }

    /// Whether the connection can be used again (no reply is half read).
    pub(crate) fn is_open(&self) -> bool {
        self.inner.is_open()
    }
}

/// Whether `err` is the server saying that a blocked command was cut short
/// because its key changed (Redis 7: `UNBLOCKED`): the path changed, so
/// look again; the connection is fine.
pub(crate) fn is_unblocked(err: &RedisError) -> bool {
    err.code() == Some("UNBLOCKED")
}

/// The kind of the I/O failure under `err`; a socket timeout is `TimedOut`
/// (Unix reports it as `WouldBlock`), and an error the server replied
/// with is `Other`.
fn io_kind(err: &RedisError) -> io::ErrorKind {
    let kind = io_source(err).map(io::Error::kind).unwrap_or_else(|| {
        // Without the io::Error itself, the crate's own questions still
        // tell the common cases apart.
        if err.is_timeout() {
            io::ErrorKind::TimedOut
        } else if err.is_connection_refusal() {
            io::ErrorKind::ConnectionRefused
        } else if err.is_io_error() || err.is_connection_dropped() {
            io::ErrorKind::ConnectionReset
        } else {
            io::ErrorKind::Other
        }
    });
    match kind {
        io::ErrorKind::WouldBlock => io::ErrorKind::TimedOut,
        kind => kind,
    }
}

/// The `io::Error` under `err`, if it has one. The crate keeps it behind
/// an `Arc<dyn Error>`, which is what `source` hands out.
fn io_source(err: &RedisError) -> Option<&io::Error> {
    type Shared = std::sync::Arc<dyn std::error::Error + Send + Sync>;
    let source = std::error::Error::source(err)?;
    source.downcast_ref::<io::Error>().or_else(|| {
        source
            .downcast_ref::<Shared>()
            .and_then(|inner| inner.downcast_ref::<io::Error>())
    })
}

/// `url` with the password of its user part, if any, replaced by `***`.
fn hide_password(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return url.to_owned();
    };
    let user_info = &rest[..at];
    let user = user_info.split(':').next().unwrap_or("");
    let hidden = if user_info.contains(':') {
        format!("{user}:***")
    } else {
        // `redis://secret@host` puts the password alone in the user part.
        "***".to_owned()
    };
    format!("{}{hidden}{}", &url[..scheme_end], &rest[at..])
}

/// Reading the values scripts and stream commands reply with.
pub(crate) mod reply {
    use ::redis::Value;

    /// The bytes of a string reply.
    pub(crate) fn bytes(value: &Value) -> Option<&[u8]> {
        match value {
            Value::BulkString(bytes) => Some(bytes),
            Value::SimpleString(text) => Some(text.as_bytes()),
            Value::VerbatimString { text, .. } => Some(text.as_bytes()),
            Value::Okay => Some(b"OK"),
            _ => None,
        }
    }

    /// A string reply as text.
    pub(crate) fn text(value: &Value) -> Option<String> {
        bytes(value).map(|b| String::from_utf8_lossy(b).into_owned())
    }

    /// The bytes of a string reply, taken out of it.
    pub(crate) fn into_bytes(value: Value) -> Option<Vec<u8>> {
        match value {
            Value::BulkString(bytes) => Some(bytes),
            Value::SimpleString(text) => Some(text.into_bytes()),
            _ => None,
        }
    }

    /// An integer reply (or a string of digits).
    pub(crate) fn int(value: &Value) -> Option<i64> {
        match value {
            Value::Int(n) => Some(*n),
            other => text(other)?.parse().ok(),
        }
    }

    /// The items of an array reply.
    pub(crate) fn items(value: Value) -> Option<Vec<Value>> {
        match value {
            Value::Array(items) | Value::Set(items) => Some(items),
            _ => None,
        }
    }

    /// The entries of an `XREAD` reply for one stream, as `(id, fields)`;
    /// empty when the read timed out. RESP2 sends `[[key, entries]]`,
    /// RESP3 a map from key to entries.
    pub(crate) fn stream_entries(value: Value) -> Option<Vec<(String, Vec<Value>)>> {
        let entries = match value {
            Value::Nil => return Some(Vec::new()),
            Value::Map(mut streams) => streams.pop()?.1,
            Value::Array(mut streams) => {
                let mut stream = items(streams.pop()?)?;
                stream.pop()?
            }
            _ => return None,
        };
        let mut out = Vec::new();
        for entry in items(entries)? {
            let mut parts = items(entry)?.into_iter();
            let id = text(&parts.next()?)?;
            let fields = match parts.next()? {
                Value::Map(pairs) => pairs.into_iter().flat_map(|(k, v)| [k, v]).collect(),
                other => items(other)?,
            };
            out.push((id, fields));
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::hide_password;

    #[test]
    fn a_password_in_the_url_is_hidden_in_errors() {
        assert_eq!(
            hide_password("redis://127.0.0.1:6379/"),
            "redis://127.0.0.1:6379/"
        );
        assert_eq!(
            hide_password("redis://user:secret@host:1/0"),
            "redis://user:***@host:1/0"
        );
        assert_eq!(hide_password("redis://:secret@host/"), "redis://:***@host/");
        assert_eq!(hide_password("redis://secret@host/"), "redis://***@host/");
        assert_eq!(hide_password("unix:///tmp/r.sock"), "unix:///tmp/r.sock");
    }
}
