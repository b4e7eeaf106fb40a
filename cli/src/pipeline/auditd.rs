//! Linux auditd execve events as Sysmon-named process-creation events.
//!
//! auditd logs one exec as several records sharing a `msg` id
//! (`audit(1604996384.965:93777)`): `SYSCALL` (exe, pid, ppid, uid, cwd …),
//! `EXECVE` (argc, a0 … aN), `CWD`, one `PATH` per path and `PROCTITLE`.
//! [`Grouper`] gathers consecutive records with one id; [`normalise`] turns
//! a group, or a record that a shipper already merged (Microsoft auoms,
//! msticpy's parser: `exe`, `cmdline`, `cwd` on one record), into one event
//! that keeps every original field and adds the Sysmon names rules use:
//!
//! - `CommandLine`: the EXECVE arguments a0 … a(argc-1) joined by spaces,
//!   each decoded if auditd hex-encoded it; else a merged `cmdline`; else
//!   the PROCTITLE (NUL-separated arguments, hex-encoded, at most 128 bytes).
//! - `Image`: SYSCALL `exe`, else the first PATH `name`.
//! - `CurrentDirectory` (`cwd`), `ProcessId` (`pid`), `ParentProcessId`
//!   (`ppid`), `User` (a merged `user` name, else `uid`, with 0 as `root`).
//!
//! There is no parent image in auditd, so `ParentImage` stays absent.
//!
//! auditd writes an argument as hex when it holds a space, a double quote,
//! a control character or a byte above 0x7e. An argument is decoded only if
//! it is even-length upper-case hex *and* its bytes hold such a character:
//! anything else could not have been encoded, so `deadbeef` stays as it is.

use serde_json::{Map, Value};

/// Records of one auditd event.
#[derive(Debug)]
pub struct Group {
    /// Line of the first record.
    pub line: u64,
    /// The records, in input order.
    pub records: Vec<Map<String, Value>>,
}

/// Gathers consecutive records that share a `msg` id. At most `max`
/// records are kept per group, so memory stays bounded on hostile input.
#[derive(Debug)]
pub struct Grouper {
    current: Option<(String, Group)>,
    max: usize,
}

impl Default for Grouper {
    fn default() -> Grouper {
        Grouper { current: None, max: 4096 }
    }
}

/// The `msg` id of a raw auditd record (`type` + `msg: audit(…)`), if it is one.
pub fn record_id(record: &Map<String, Value>) -> Option<&str> {
    let msg = record.get("msg")?.as_str()?;
    (record.get("type").is_some_and(Value::is_string) && msg.starts_with("audit(")).then_some(msg)
}

impl Grouper {
    /// Adds a raw record; returns the previous group if this one starts a new one.
    pub fn push(&mut self, line: u64, id: &str, record: Map<String, Value>) -> Option<Group> {
        match &mut self.current {
            Some((cur, group)) if cur == id && group.records.len() < self.max => {
                group.records.push(record);
                None
            }
            _ => {
                let done = self.finish();
                self.current = Some((id.to_string(), Group { line, records: vec![record] }));
                done
            }
        }
    }

    /// Ends the group in progress.
    pub fn finish(&mut self) -> Option<Group> {
        self.current.take().map(|(_, g)| g)
    }
}

/// Syscall names and numbers of execve/execveat on x86_64, i386 and aarch64.
const EXEC_SYSCALLS: &[&str] = &["execve", "execveat", "59", "322", "11", "358", "221", "281"];

/// The event for a group of records (or one merged record), and whether it
/// is process creation (an exec; any other syscall is not).
pub fn normalise(records: Vec<Map<String, Value>>) -> (Value, bool) {
    let str_of = |m: &Map<String, Value>, k: &str| m.get(k).and_then(Value::as_str).map(str::to_string);
    let type_of = |m: &Map<String, Value>| m.get("type").and_then(Value::as_str).unwrap_or("").to_string();
    let mut out = Map::new();
    let mut execve: Option<Map<String, Value>> = None;
    let mut proctitle: Option<String> = None;
    let mut cwd: Option<String> = None;
    let mut first_path: Option<String> = None;
    let mut syscall: Option<String> = None;
    let grouped = records.len() > 1 || records.first().is_some_and(|r| record_id(r).is_some());
    for r in records {
        let ty = type_of(&r);
        match ty.as_str() {
            "SYSCALL" | "" => {
                syscall = str_of(&r, "syscall").or(syscall);
                // A merged record already has everything at the top.
                for (k, v) in r {
                    out.entry(k).or_insert(v);
                }
            }
            "EXECVE" => {
                execve = Some(r.clone());
                out.insert("EXECVE".into(), Value::Object(r));
            }
            "CWD" => {
                cwd = str_of(&r, "cwd");
                out.insert("CWD".into(), Value::Object(r));
            }
            "PATH" => {
                if first_path.is_none() {
                    first_path = str_of(&r, "name");
                }
                if let Value::Array(a) = out.entry("PATH").or_insert_with(|| Value::Array(Vec::new())) {
                    a.push(Value::Object(r));
                }
            }
            "PROCTITLE" => {
                proctitle = str_of(&r, "proctitle");
                out.insert("PROCTITLE".into(), Value::Object(r));
            }
            other => {
                out.insert(other.to_string(), Value::Object(r));
            }
        }
    }
    let is_exec = execve.is_some()
        || match &syscall {
            Some(s) => EXEC_SYSCALLS.contains(&s.as_str()),
            // A merged record with no syscall field (msticpy's parser keeps
            // only execs) is taken as one.
            None => true,
        };
    let command_line = match &execve {
        Some(e) => Some(arguments(e)),
        None if !grouped && out.get("cmdline").is_some_and(Value::is_string) => str_of(&out, "cmdline"),
        None if !grouped && out.get("type").and_then(Value::as_str) == Some("EXECVE") => Some(arguments(&out)),
        None => proctitle.or_else(|| str_of(&out, "proctitle")).map(|p| decode_proctitle(&p)),
    };
    let image = str_of(&out, "exe").or(first_path).or_else(|| str_of(&out, "name")).map(|e| decode(&e));
    let cwd = cwd.or_else(|| str_of(&out, "cwd")).map(|c| decode(&c));
    let user = str_of(&out, "user")
        .or_else(|| str_of(&out, "UID"))
        .or_else(|| str_of(&out, "uid").map(|u| if u == "0" { "root".into() } else { u }));
    let (pid, ppid) = (str_of(&out, "pid"), str_of(&out, "ppid"));
    let mut put = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            out.insert(k.to_string(), Value::String(v));
        }
    };
    put("CommandLine", command_line);
    put("Image", image);
    put("CurrentDirectory", cwd);
    put("ProcessId", pid);
    put("ParentProcessId", ppid);
    put("User", user);
    (Value::Object(out), is_exec)
}

/// `a0 … a(argc-1)` (or every consecutive `aN` from `a0` without `argc`),
/// decoded and joined by spaces.
///
/// The work is bounded by the keys the record has (a record is one line,
/// at most `--max-line-bytes` long), never by `argc`, a number the input
/// chooses: counting `0..argc` and skipping the missing keys took 8 s for
/// one line with `"argc":"100000000"` and forever for `u64::MAX`.
fn arguments(r: &Map<String, Value>) -> String {
    let argc: Option<u64> = r.get("argc").and_then(|v| v.as_str().and_then(|s| s.parse().ok()).or_else(|| v.as_u64()));
    let mut args: Vec<(u64, &Value)> = r
        .iter()
        .filter_map(|(k, v)| Some((argument_index(k)?, v)))
        .filter(|(i, _)| argc.is_none_or(|n| *i < n))
        .collect();
    args.sort_unstable_by_key(|(i, _)| *i);
    if argc.is_none() {
        // Without `argc`, the arguments end at the first missing index.
        let run = args.iter().enumerate().take_while(|(pos, (i, _))| *i == *pos as u64).count();
        args.truncate(run);
    }
    let text: Vec<String> = args
        .into_iter()
        .map(|(_, v)| match v {
            Value::String(s) => decode(s),
            other => other.to_string(),
        })
        .collect();
    text.join(" ")
}

/// `N` for a key `aN` as auditd writes it (decimal, no sign, no leading zero).
fn argument_index(key: &str) -> Option<u64> {
    let digits = key.strip_prefix('a')?;
    let canonical = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits.len() == 1 || !digits.starts_with('0'));
    canonical.then(|| digits.parse().ok()).flatten()
}

/// Decodes a value auditd hex-encoded (see the module docs; the decoded
/// bytes must also be UTF-8).
pub fn decode(s: &str) -> String {
    match hex_bytes(s) {
        Some(bytes) if bytes.iter().any(|&b| !(0x21..=0x7e).contains(&b) || b == b'"') => {
            String::from_utf8(bytes).unwrap_or_else(|_| s.to_string())
        }
        _ => s.to_string(),
    }
}

fn hex_bytes(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    if b.is_empty() || !b.len().is_multiple_of(2) || !b.iter().all(|c| c.is_ascii_digit() || (b'A'..=b'F').contains(c))
    {
        return None;
    }
    let nib = |c: u8| if c.is_ascii_digit() { c - b'0' } else { c - b'A' + 10 };
    Some(b.chunks(2).map(|p| nib(p[0]) << 4 | nib(p[1])).collect())
}

/// A PROCTITLE: hex-encoded (always, when it holds NULs) arguments
/// separated by NUL bytes; merged shapes may carry it decoded already.
fn decode_proctitle(p: &str) -> String {
    let text = match hex_bytes(p) {
        Some(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        None => p.to_string(),
    };
    text.trim_end_matches('\0').replace('\0', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(v: serde_json::Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!("test input is an object"),
        }
    }

    #[test]
    fn hex_arguments_are_decoded_only_when_auditd_would_have_encoded_them() {
        assert_eq!(decode("7B7072696E742024327D"), "{print $2}");
        // Bytes above 0x7e that are not UTF-8: a literal argument, not an encoding.
        assert_eq!(decode("DEADBEEF"), "DEADBEEF");
        assert_eq!(decode("41424344"), "41424344");
        assert_eq!(decode("-la"), "-la");
        assert_eq!(decode_proctitle("617270002D61"), "arp -a");
    }

    #[test]
    fn groups_become_one_event() {
        let mut g = Grouper::default();
        let recs = [
            serde_json::json!({"type":"SYSCALL","msg":"audit(1:2)","syscall":"59","exe":"/usr/bin/awk","pid":"10","ppid":"9","uid":"0","a0":"55aa"}),
            serde_json::json!({"type":"EXECVE","msg":"audit(1:2)","argc":"2","a0":"awk","a1":"7B7072696E742024327D"}),
            serde_json::json!({"type":"CWD","msg":"audit(1:2)","cwd":"/tmp"}),
            serde_json::json!({"type":"SYSCALL","msg":"audit(1:3)","syscall":"2","exe":"/bin/cat"}),
        ];
        let mut done = Vec::new();
        for (i, r) in recs.into_iter().enumerate() {
            let r = obj(r);
            let id = record_id(&r).unwrap().to_string();
            done.extend(g.push(i as u64 + 1, &id, r));
        }
        done.extend(g.finish());
        assert_eq!(done.len(), 2);
        assert_eq!((done[0].line, done[0].records.len()), (1, 3));
        let (ev, exec) = normalise(done.remove(0).records);
        assert!(exec);
        assert_eq!(ev["CommandLine"], "awk {print $2}");
        assert_eq!(ev["Image"], "/usr/bin/awk");
        assert_eq!(ev["CurrentDirectory"], "/tmp");
        assert_eq!(ev["User"], "root");
        assert_eq!(ev["ParentProcessId"], "9");
        let (_, exec) = normalise(done.remove(0).records);
        assert!(!exec, "an open() is not process creation");
    }

    /// Issue 13, item 1: `argc` bounds nothing but which keys count.
    #[test]
    fn auditd_argc_from_the_record_bounds_no_loop() {
        let args = |v: serde_json::Value| arguments(&obj(v));
        assert_eq!(args(serde_json::json!({"argc":"18446744073709551615","a0":"ls","a2":"-l"})), "ls -l");
        assert_eq!(args(serde_json::json!({"argc":100000000u64,"a1":"x","a0":"ls"})), "ls x");
        // `argc` cuts the arguments; gaps below it are skipped.
        assert_eq!(args(serde_json::json!({"argc":"2","a0":"ls","a1":"-l","a2":"extra"})), "ls -l");
        assert_eq!(args(serde_json::json!({"argc":"3","a0":"ls","a2":"/"})), "ls /");
        // Without `argc`: consecutive from a0.
        assert_eq!(args(serde_json::json!({"a0":"ls","a1":"-l","a3":"gap"})), "ls -l");
        assert_eq!(args(serde_json::json!({"a1":"no a0"})), "");
        // Only auditd's spelling of an index.
        assert_eq!(args(serde_json::json!({"argc":"5","a0":"ls","a01":"x","a+1":"y","a1_len":"3","a":"z"})), "ls");
        assert_eq!(args(serde_json::json!({"argc":"5","a0":"ls","a1":7})), "ls 7");
    }

    #[test]
    fn merged_records_keep_their_command_line() {
        let auoms = obj(serde_json::json!({"syscall":"execve","a0":"7fcd3bdfb8e0","a1":"7f","exe":"/bin/bash",
            "cmdline":"bash -i","user":"tomcat","uid":"1001","cwd":"/"}));
        let (ev, exec) = normalise(vec![auoms]);
        assert!(exec);
        assert_eq!(ev["CommandLine"], "bash -i");
        assert_eq!(ev["User"], "tomcat");
        let no_cmdline = obj(serde_json::json!({"syscall":"execve","exe":"/bin/x","proctitle":"x -y"}));
        assert_eq!(normalise(vec![no_cmdline]).0["CommandLine"], "x -y");
    }
}
