//! The random source. Only `next_u64` of ChaCha8 is used, with integer arithmetic on top, so the
//! stream does not depend on the platform or on how a `rand` release samples ranges.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub(crate) struct Rand(ChaCha8Rng);

impl Rand {
    pub(crate) fn new(seed: u64) -> Rand {
        Rand(ChaCha8Rng::seed_from_u64(seed))
    }

    pub(crate) fn u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform in `0..n` (`n > 0`), by multiply-shift.
    pub(crate) fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.u64()) * n as u128) >> 64) as usize
    }

    /// Uniform in `lo..=hi`.
    pub(crate) fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below((hi - lo + 1) as usize) as u64
    }

    /// True with probability `per_mille / 1000`.
    pub(crate) fn chance(&mut self, per_mille: u32) -> bool {
        self.below(1000) < per_mille as usize
    }

    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// An item of `(weight, item)` pairs, with probability proportional to its weight.
    pub(crate) fn weighted<'a, T>(&mut self, items: &'a [(u32, T)]) -> &'a T {
        let total: u32 = items.iter().map(|(w, _)| w).sum();
        let mut r = self.below(total as usize) as u32;
        for (w, item) in items {
            if r < *w {
                return item;
            }
            r -= w;
        }
        unreachable!("r < total")
    }

    /// `digits` random hex digits.
    pub(crate) fn hex(&mut self, digits: usize, upper: bool) -> String {
        let alphabet: &[u8; 16] = if upper { b"0123456789ABCDEF" } else { b"0123456789abcdef" };
        (0..digits).map(|_| alphabet[self.below(16)] as char).collect()
    }

    /// `len` random characters of `alphabet`.
    pub(crate) fn chars(&mut self, len: usize, alphabet: &[u8]) -> String {
        (0..len).map(|_| alphabet[self.below(alphabet.len())] as char).collect()
    }

    /// A GUID in registry form, `{8-4-4-4-12}`.
    pub(crate) fn guid(&mut self, upper: bool) -> String {
        format!(
            "{{{}-{}-{}-{}-{}}}",
            self.hex(8, upper),
            self.hex(4, upper),
            self.hex(4, upper),
            self.hex(4, upper),
            self.hex(12, upper)
        )
    }

    /// A Windows process id: a multiple of 4.
    pub(crate) fn pid(&mut self) -> u32 {
        4 * self.range(100, 15_000) as u32
    }

    pub(crate) fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.u64() as u8).collect()
    }
}
