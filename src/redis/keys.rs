//! Where a namespace's state lives in Redis: the key names.

/// The keys of one namespace.
///
/// Every key starts with the namespace's length, a colon, the namespace
/// and a colon (`6:chanio:`): the length makes the prefix unambiguous, so
/// two namespaces never share a key, not even `a` and `a:b`.
#[derive(Clone, Debug)]
pub(crate) struct Namespace {
    prefix: String,
}

impl Namespace {
    pub(crate) fn new(name: &str) -> Namespace {
        Namespace {
            prefix: format!("{}:{}:", name.len(), name),
        }
    }

    /// What every key of the namespace starts with; the scripts that look
    /// paths up by name build the keys of a path from it.
    pub(crate) fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Sorted set of every path name (all scores 0), for `list` and
    /// broadcast by `ZRANGEBYLEX`.
    pub(crate) fn index(&self) -> String {
        format!("{}index", self.prefix)
    }

    /// Hash from path name to the id of the path's current incarnation.
    pub(crate) fn paths(&self) -> String {
        format!("{}paths", self.prefix)
    }

    /// The keys of incarnation `id` of a path.
    pub(crate) fn incarnation(&self, id: &str) -> PathKeys {
        PathKeys::new(&format!("{}{}", self.prefix, id))
    }

    /// The `ZRANGEBYLEX` bounds of the names starting with `prefix`, taken
    /// literally (no glob: `*`, `?` and `[` match themselves). A name is
    /// UTF-8, which never holds the byte 0xff, so `(prefix\xff` is above
    /// every name that starts with `prefix`.
    pub(crate) fn lex_range(prefix: &str) -> (Vec<u8>, Vec<u8>) {
        if prefix.is_empty() {
            return (b"-".to_vec(), b"+".to_vec());
        }
        let mut low = b"[".to_vec();
        low.extend_from_slice(prefix.as_bytes());
        let mut high = b"(".to_vec();
        high.extend_from_slice(prefix.as_bytes());
        high.push(0xff);
        (low, high)
    }
}

/// The keys of one incarnation of a path. A path's name maps to the id of
/// its current incarnation; `delete` removes the name, so a path made again
/// under the same name starts fresh while readers of the old one drain it.
#[derive(Clone, Debug)]
pub(crate) struct PathKeys {
    /// `prefix + id`: the scripts that renew leases build the other keys
    /// from it.
    pub(crate) base: String,
    /// Hash: `name`, `mode` (`queue` or `log`), `cap`, `started`,
    /// `ended`, `poisoned`, `deleted`.
    pub(crate) meta: String,
    /// The stream: one entry per message (field `d`), then one end marker
    /// (field `end`: `ok`, `panic` or `deleted`).
    pub(crate) data: String,
    /// Sorted set of writer lease tokens, scored by expiry (server ms).
    pub(crate) writers: String,
    /// Sorted set of reader lease tokens, scored by expiry (server ms).
    pub(crate) readers: String,
    /// List of wake-up tokens for writers waiting for room (queue mode).
    pub(crate) room: String,
}

impl PathKeys {
    fn new(base: &str) -> PathKeys {
        PathKeys {
            base: base.to_owned(),
            meta: format!("{base}:meta"),
            data: format!("{base}:data"),
            writers: format!("{base}:writers"),
            readers: format!("{base}:readers"),
            room: format!("{base}:room"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_that_share_a_prefix_share_no_key() {
        let a = Namespace::new("a");
        let ab = Namespace::new("a:b");
        assert!(!ab.index().starts_with(a.prefix()));
        assert!(!a.index().starts_with(ab.prefix()));
        assert_ne!(a.incarnation("1").data, ab.incarnation("1").data);
    }

    #[test]
    fn the_lex_range_of_a_prefix_is_literal() {
        assert_eq!(Namespace::lex_range(""), (b"-".to_vec(), b"+".to_vec()));
        let (low, high) = Namespace::lex_range("a*");
        assert_eq!(low, b"[a*");
        assert_eq!(high, b"(a*\xff");
    }
}
