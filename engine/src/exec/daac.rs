//! Checking a saved double-array automaton before loading it from a bundle.
//!
//! daachorse's checked `deserialize` guarantees memory safety only: its own
//! documentation warns that malformed data "may lead to infinite loops" or
//! wrong match ranges (a cycle of failure links, say). A bundle is input, so
//! [`verify`] first checks that the bytes are *exactly* the Aho-Corasick
//! automaton of the field's literals, in `O(states + literal bytes)`:
//!
//! 1. the layout is daachorse 5.1's standard-matching layout (the version is
//!    pinned in `Cargo.toml` for this reason), without prefilter (sigmata
//!    builds none, see `FieldMatcher::new`);
//! 2. every BASE is owned by one state, so each state has at most one parent
//!    as the search sees transitions (`child = base ^ byte`, `check == byte`);
//! 3. the states reachable from the root are exactly the prefixes of the
//!    literals, each literal ending where its value is reported;
//! 4. every reachable state's failure link is the one Aho-Corasick defines
//!    (computed breadth-first, as the builder does), so failure chains
//!    strictly shorten and a search takes linear time;
//! 5. every reachable state reports exactly its literal (value and length)
//!    followed by its failure state's outputs.
//!
//! Anything else is refused; a bundle then fails to load with the reason.

use crate::plan::Literals;

const BLOCK: usize = 256;
const ROOT: u32 = 0;
const NONE: u32 = u32::MAX;

/// One state as daachorse 5.1 serializes it: BASE (0 = none), failure link,
/// output position (high 24 bits, 0 = none) and CHECK (low 8 bits).
#[derive(Clone, Copy)]
struct State {
    base: u32,
    fail: u32,
    opos_check: u32,
}

impl State {
    fn from(b: &[u8; 12]) -> State {
        let u = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        State { base: u(0), fail: u(4), opos_check: u(8) }
    }
    fn check(self) -> u8 {
        self.opos_check as u8
    }
    /// Index into the outputs, if any.
    fn output(self) -> Option<u32> {
        (self.opos_check >> 8).checked_sub(1)
    }
}

/// One output: the value (literal index), the match length and the next
/// output of the chain (1-based, 0 = end).
#[derive(Clone, Copy)]
struct Output {
    value: u32,
    length: u32,
    parent: u32,
}

/// The states, read in place.
struct States<'a>(&'a [[u8; 12]]);

impl States<'_> {
    fn get(&self, i: usize) -> Option<State> {
        self.0.get(i).map(State::from)
    }
    /// State `i`, which is in range.
    fn at(&self, i: usize) -> State {
        State::from(&self.0[i])
    }
    fn iter(&self) -> impl Iterator<Item = State> + '_ {
        self.0.iter().map(State::from)
    }
}

struct Bytes<'a>(&'a [u8]);

impl<'a> Bytes<'a> {
    /// The next `n` records of `N` bytes (`n` from [`len`](Self::len),
    /// so that they are there).
    fn records<const N: usize>(&mut self, n: usize) -> &'a [[u8; N]] {
        let records = &self.0.as_chunks::<N>().0[..n];
        self.0 = &self.0[n * N..];
        records
    }
    fn u32(&mut self) -> Result<u32, String> {
        let (head, rest) = self.0.split_first_chunk::<4>().ok_or("truncated")?;
        self.0 = rest;
        Ok(u32::from_le_bytes(*head))
    }
    fn u8(&mut self) -> Result<u8, String> {
        let (&b, rest) = self.0.split_first().ok_or("truncated")?;
        self.0 = rest;
        Ok(b)
    }
    /// A `u32` length followed by that many records of `width` bytes.
    fn len(&mut self, width: usize) -> Result<usize, String> {
        let n = self.u32()? as usize;
        if n.checked_mul(width).is_none_or(|b| b > self.0.len()) {
            return Err("a length exceeds the bytes left".into());
        }
        Ok(n)
    }
}

/// Refuses `bytes` unless they are daachorse's standard automaton of
/// `literals` (literal `i` reported with value `i`); see the module docs.
pub(crate) fn verify(bytes: &[u8], literals: &Literals) -> Result<(), String> {
    let mut r = Bytes(bytes);
    let n = r.len(12)?;
    let states = States(r.records::<12>(n));
    if r.len(12)? != 0 || r.len(4)? != 0 {
        return Err("not a standard-matching automaton".into());
    }
    let m = r.len(12)?;
    let mut outputs = Vec::with_capacity(m);
    for _ in 0..m {
        outputs.push(Output { value: r.u32()?, length: r.u32()?, parent: r.u32()? });
    }
    let (kind, _num_states, prefilter) = (r.u8()?, r.u32()?, r.u8()?);
    if kind != 0 || prefilter != 0 || !r.0.is_empty() {
        return Err("not a standard-matching automaton without prefilter".into());
    }
    if n == 0 || n % BLOCK != 0 || n > u32::MAX as usize / 2 {
        return Err("the state array has an invalid length".into());
    }
    // 2. Every BASE in range and owned by one state, so that each state
    // has at most one parent as the search sees transitions; failure links
    // in range (they are compared before they are followed below, which
    // keeps every index in range whatever the order of the checks).
    let mut owner = vec![NONE; n];
    for (s, st) in states.iter().enumerate() {
        if st.fail as usize >= n {
            return Err("a failure link is out of range".into());
        }
        if st.base != 0 {
            let slot = owner.get_mut(st.base as usize).ok_or("a BASE is out of range")?;
            if *slot != NONE {
                return Err("two states share a BASE".into());
            }
            *slot = s as u32;
        }
    }
    let child = |s: u32, c: u8| -> Option<u32> {
        let base = states.at(s as usize).base;
        let t = base ^ u32::from(c);
        (base != 0 && states.get(t as usize).is_some_and(|st| st.check() == c)).then_some(t)
    };

    // 3. Every literal is a path from the root, which gives the parent and
    // the depth of each state on one ...
    let mut parent = vec![NONE; n];
    let mut depth = vec![0u32; n];
    let mut end_of = vec![NONE; n];
    for (i, text) in literals.texts().enumerate() {
        let mut s = ROOT;
        for &c in text.as_bytes() {
            let t = child(s, c).ok_or("a literal is missing from the automaton")?;
            match parent[t as usize] {
                _ if t == ROOT => return Err("a transition leads back to the root".into()),
                NONE => {
                    parent[t as usize] = s;
                    depth[t as usize] = depth[s as usize] + 1;
                }
                p if p == s => {}
                // (Two parents would share a BASE: refused above.)
                _ => return Err("a state is reached twice".into()),
            }
            s = t;
        }
        if end_of[s as usize] != NONE {
            return Err("two literals end in the same state".into());
        }
        end_of[s as usize] = i as u32;
    }
    // ... and no other state is reachable: a state whose parent, as the
    // search sees it (the owner of `t ^ check(t)`, in the same block of
    // 256), is on a path is on one.
    let on_path = |s: u32| s == ROOT || parent[s as usize] != NONE;
    for t in 1..n {
        let p = owner[t ^ usize::from(states.at(t).check())];
        if p != NONE && parent[t] == NONE && on_path(p) {
            return Err("a state is not on any literal".into());
        }
    }
    // Breadth-first order: the states on a path by depth (counted, then
    // placed).
    let max_depth = depth.iter().copied().max().unwrap_or(0) as usize;
    let mut at_depth = vec![0u32; max_depth + 2];
    for t in 1..n {
        if parent[t] != NONE {
            at_depth[depth[t] as usize + 1] += 1;
        }
    }
    at_depth[0] = 1;
    for d in 1..at_depth.len() {
        at_depth[d] += at_depth[d - 1];
    }
    let mut order = vec![ROOT; at_depth[max_depth + 1] as usize];
    for t in 1..n {
        if parent[t] != NONE {
            let slot = &mut at_depth[depth[t] as usize];
            order[*slot as usize] = t as u32;
            *slot += 1;
        }
    }

    // 4 and 5. Failure links and outputs, breadth-first (a state's failure
    // state is shallower, so it is checked before the state).
    let output_of = |s: u32| states.at(s as usize).output();
    for &t in &order {
        let p = parent[t as usize];
        let expected_fail = if t == ROOT || p == ROOT {
            ROOT
        } else {
            let c = states.at(t as usize).check();
            let mut f = states.at(p as usize).fail;
            loop {
                if let Some(x) = child(f, c) {
                    break x;
                }
                if f == ROOT {
                    break ROOT;
                }
                f = states.at(f as usize).fail;
            }
        };
        if t != ROOT && states.at(t as usize).fail != expected_fail {
            return Err("a failure link is not the automaton's".into());
        }
        let inherited = if t == ROOT { None } else { output_of(expected_fail) };
        let own = end_of[t as usize];
        let ok = match (own, output_of(t)) {
            (NONE, got) => got == inherited,
            (lit, Some(o)) => outputs.get(o as usize).is_some_and(|out| {
                out.value == lit
                    && out.length as usize == literals.text(lit as usize).len()
                    && out.parent.checked_sub(1) == inherited
            }),
            (_, None) => false,
        };
        if !ok {
            return Err("a state does not report its literals".into());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::verify;
    use crate::plan::{Literal, Literals};

    fn lits(words: &[&str]) -> Literals {
        let list: Vec<Literal> = words.iter().map(|w| Literal { text: w.to_string(), ..Literal::default() }).collect();
        Literals::new(&list)
    }

    fn build(words: &[&str]) -> Vec<u8> {
        daachorse::DoubleArrayAhoCorasickBuilder::new()
            .use_prefilter(false)
            .build_with_values(words.iter().enumerate().map(|(i, w)| (w.as_bytes(), i as u32)))
            .expect("builds")
            .serialize()
    }

    const WORDS: &[&str] = &["\\cmd.exe", ".exe", "cmd", "powershell", "-enc", "e", "-encodedcommand", "shell"];

    #[test]
    fn the_automaton_of_the_literals_is_accepted() {
        verify(&build(WORDS), &lits(WORDS)).expect("accepted");
        verify(&build(&["a"]), &lits(&["a"])).expect("accepted");
    }

    #[test]
    fn another_literal_list_is_refused() {
        let bytes = build(WORDS);
        let mut other = WORDS.to_vec();
        other.swap(0, 1);
        assert!(verify(&bytes, &lits(&other)).is_err());
        assert!(verify(&bytes, &lits(&WORDS[1..])).is_err());
        assert!(verify(&bytes, &lits(&[WORDS, &["more"]].concat())).is_err());
    }

    /// Every truncation is refused, and every single-byte change is either
    /// refused (by `verify` or by daachorse) or leaves an automaton that
    /// matches exactly as the original (a change to bytes no search reads).
    #[test]
    fn damage_is_refused_or_harmless() {
        let hay = "c:\\windows\\cmd.exe /c powershell -encodedcommand e -enc shell.exe";
        let matches = |da: &daachorse::DoubleArrayAhoCorasick<u32>| {
            da.find_overlapping_iter(hay).map(|m| (m.start(), m.end(), m.value())).collect::<Vec<_>>()
        };
        for words in [WORDS, &WORDS[..2]] {
            let bytes = build(words);
            let literals = lits(words);
            let expected = matches(&daachorse::DoubleArrayAhoCorasick::<u32>::deserialize(&bytes).expect("loads").0);
            for len in 0..bytes.len() {
                assert!(verify(&bytes[..len], &literals).is_err(), "truncated at {len}");
            }
            let (mut refused, mut harmless) = (0, 0);
            for i in 0..bytes.len() {
                for flip in [1u8, 2, 0x80, 0xff] {
                    let mut bad = bytes.clone();
                    bad[i] ^= flip;
                    // Loading checks both (`FieldMatcher::load`).
                    let loaded = verify(&bad, &literals)
                        .ok()
                        .and_then(|()| daachorse::DoubleArrayAhoCorasick::<u32>::deserialize(&bad).ok());
                    let Some((da, _)) = loaded else {
                        refused += 1;
                        continue;
                    };
                    harmless += 1;
                    assert_eq!(matches(&da), expected, "byte {i} ^ {flip:#x} accepted but matches differently");
                }
            }
            assert!(refused > 0 && harmless > 0, "{refused} refused, {harmless} harmless");
        }
    }

    /// A failure link to itself on a reachable state (which would make
    /// daachorse's search loop forever) is refused; on a state no search
    /// reaches it changes nothing.
    #[test]
    fn a_failure_cycle_is_refused() {
        let words = ["ab", "b", "abc"];
        let bytes = build(&words);
        let n = u32::from_le_bytes(bytes[..4].try_into().expect("4 bytes")) as usize;
        let mut refused = 0;
        for s in 1..n {
            let mut bad = bytes.clone();
            let at = 4 + 12 * s + 4;
            bad[at..at + 4].copy_from_slice(&(s as u32).to_le_bytes());
            if bad != bytes && verify(&bad, &lits(&words)).is_err() {
                refused += 1;
            }
        }
        // Exactly the four states of the trie below the root: a, ab, abc, b.
        assert_eq!(refused, 4);
    }
}
