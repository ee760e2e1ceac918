//! Payloads stamped with their index, and the check of what arrives.

use super::fail;

const PAGE: usize = 4096;

/// A zeroed heap buffer whose first byte sits on a 4096-byte boundary.
///
/// A copy between two buffers whose addresses differ by a little modulo
/// 4 KiB can run many times slower (4K aliasing: loads look as if they
/// depend on earlier stores). Aligning every buffer the bench owns keeps
/// that effect out of the bench's own side of each copy.
pub struct Aligned {
    storage: Vec<u8>,
    offset: usize,
    len: usize,
}

impl Aligned {
    pub fn new(len: usize) -> Aligned {
        let storage = vec![0u8; len + PAGE];
        let offset = (PAGE - storage.as_ptr() as usize % PAGE) % PAGE;
        Aligned {
            storage,
            offset,
            len,
        }
    }

    pub fn as_slice(&self) -> &[u8] {
        &self.storage[self.offset..self.offset + self.len]
    }

    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut self.storage[self.offset..self.offset + self.len]
    }
}

/// What writers send: message `i` is a fixed pattern whose first 8 bytes are
/// replaced by `i`, so a lost, repeated or foreign message changes the sum.
pub struct Payload {
    buf: Aligned,
    /// The word sum of the pattern after the stamp.
    rest_sum: u64,
}

impl Payload {
    pub fn new(size: usize) -> Payload {
        assert!(size >= 8 && size % 8 == 0, "payload sizes are whole words");
        let mut buf = Aligned::new(size);
        for (j, byte) in buf.as_mut_slice().iter_mut().enumerate() {
            *byte = (j as u8).wrapping_mul(31).wrapping_add(7);
        }
        let rest_sum = rest_sum(&buf);
        Payload { buf, rest_sum }
    }

    /// The same payload after `transform` has changed the bytes after each
    /// stamp: what a stage that transforms messages must pass on.
    pub fn transformed(mut self, transform: impl Fn(&mut [u8])) -> Payload {
        transform(&mut self.buf.as_mut_slice()[8..]);
        self.rest_sum = rest_sum(&self.buf);
        self
    }

    pub fn size(&self) -> usize {
        self.buf.len
    }

    /// Message number `i`.
    pub fn stamp(&mut self, i: u64) -> &[u8] {
        let bytes = self.buf.as_mut_slice();
        bytes[..8].copy_from_slice(&i.to_le_bytes());
        bytes
    }

    /// The tally of messages `0..count` received in full.
    pub fn expected(&self, count: u64) -> Tally {
        let stamps = if count == 0 {
            0
        } else {
            // Σ i for i < count, computed without overflow for the counts used.
            count.wrapping_mul(count - 1) / 2
        };
        Tally {
            bytes: count * self.size() as u64,
            sum: stamps.wrapping_add(count.wrapping_mul(self.rest_sum)),
        }
    }
}

fn rest_sum(buf: &Aligned) -> u64 {
    let mut rest = Checker::default();
    rest.feed(&buf.as_slice()[8..]);
    rest.finish().sum
}

/// The index a message was stamped with (see [`Payload::stamp`]), for cases
/// that check order or uniqueness as well as the sum.
pub fn stamp_of(message: &[u8]) -> u64 {
    match message.get(..8) {
        Some(stamp) => word_at(stamp),
        None => fail(&format!(
            "a message of {} bytes is too short to hold its stamp",
            message.len()
        )),
    }
}

/// How many bytes arrived and their sum as little-endian 64-bit words taken
/// at stream offsets that are multiples of 8 (zero-padded at the end).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub bytes: u64,
    pub sum: u64,
}

impl Tally {
    /// The tally of two streams whose messages are whole words long: what
    /// competing readers received, added up, must be the tally of all sent.
    pub fn plus(self, other: Tally) -> Tally {
        Tally {
            bytes: self.bytes + other.bytes,
            sum: self.sum.wrapping_add(other.sum),
        }
    }
}

/// Builds a [`Tally`] from reads of any length: a word split over two reads
/// is carried over. Word sums vectorise well, so checking costs much less
/// than the copy it checks.
#[derive(Default)]
pub struct Checker {
    tally: Tally,
    carry: [u8; 8],
    carried: usize,
}

impl Checker {
    pub fn feed(&mut self, mut data: &[u8]) {
        self.tally.bytes += data.len() as u64;
        if self.carried > 0 {
            let take = (8 - self.carried).min(data.len());
            self.carry[self.carried..self.carried + take].copy_from_slice(&data[..take]);
            self.carried += take;
            data = &data[take..];
            if self.carried < 8 {
                return;
            }
            self.tally.sum = self.tally.sum.wrapping_add(u64::from_le_bytes(self.carry));
            self.carried = 0;
        }
        // Eight sums side by side over 64-byte blocks vectorise best.
        let blocks = data.chunks_exact(64);
        let tail = blocks.remainder();
        let mut lanes = [0u64; 8];
        for block in blocks {
            for (lane, word) in lanes.iter_mut().zip(block.chunks_exact(8)) {
                *lane = lane.wrapping_add(word_at(word));
            }
        }
        let words = tail.chunks_exact(8);
        let rest = words.remainder();
        self.tally.sum = lanes
            .into_iter()
            .chain(words.map(word_at))
            .fold(self.tally.sum, u64::wrapping_add);
        self.carry[..rest.len()].copy_from_slice(rest);
        self.carried = rest.len();
    }

    pub fn finish(mut self) -> Tally {
        if self.carried > 0 {
            self.carry[self.carried..].fill(0);
            self.tally.sum = self.tally.sum.wrapping_add(u64::from_le_bytes(self.carry));
        }
        self.tally
    }
}

fn word_at(bytes: &[u8]) -> u64 {
    u64::from_le_bytes(bytes.try_into().expect("8 bytes"))
}

/// Stops the program if `got` is not `want`: a fast wrong answer must not pass.
pub fn verify(what: &str, got: Tally, want: Tally) {
    if got != want {
        fail(&format!(
            "{what}: received {} bytes with word sum {:#018x}, expected {} bytes with sum {:#018x}",
            got.bytes, got.sum, want.bytes, want.sum
        ));
    }
}
