//! The simulated fleet: hosts, accounts, long-lived processes, and the version information and
//! hashes of every image.

use std::collections::HashMap;

use crate::rng::Rand;
use crate::text;

pub(crate) const DOMAIN: &str = "corp.example.com";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Role {
    Workstation,
    Developer,
    Server,
}

/// Masks of roles, to say which hosts a scenario runs on.
pub(crate) const WKS: u8 = 1;
pub(crate) const DEV: u8 = 2;
pub(crate) const SRV: u8 = 4;
pub(crate) const CLIENT: u8 = WKS | DEV;
pub(crate) const ANY: u8 = WKS | DEV | SRV;

impl Role {
    fn bit(self) -> u8 {
        match self {
            Role::Workstation => WKS,
            Role::Developer => DEV,
            Role::Server => SRV,
        }
    }
}

/// The account (and integrity level) a process runs as.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Who {
    System,
    LocalService,
    NetworkService,
    /// The host's interactive user, unelevated.
    User,
    /// The interactive user's elevated token (a logon id of its own).
    Admin,
    /// The interactive user in a sandbox (browser renderers).
    Low,
    /// The IIS application pool identity of web servers.
    AppPool,
}

impl Who {
    pub(crate) fn integrity(self) -> &'static str {
        match self {
            Who::System | Who::LocalService | Who::NetworkService => "System",
            Who::User => "Medium",
            Who::Admin | Who::AppPool => "High",
            Who::Low => "Low",
        }
    }

    fn account_index(self) -> usize {
        match self {
            Who::System => 0,
            Who::LocalService => 1,
            Who::NetworkService => 2,
            Who::User | Who::Low => 3,
            Who::Admin => 4,
            Who::AppPool => 5,
        }
    }
}

pub(crate) struct Account {
    pub name: String,
    pub logon_id: u64,
    pub logon_guid: String,
    pub session: u32,
}

/// A process, as a parent of later events.
#[derive(Clone, Debug)]
pub(crate) struct Proc {
    pub host: usize,
    pub pid: u32,
    pub guid: String,
    pub image: String,
    pub cmd: String,
    pub user: String,
}

/// What a host's browsers put on their child processes' command lines. Fixed per host, as the
/// field trials of one installation are.
pub(crate) struct Browser {
    pub enable: String,
    pub disable: String,
    pub field_trial: String,
    pub gpu_prefs: String,
    pub seed_version: String,
    /// `--renderer-client-id` of the next renderer.
    pub next_client: u32,
    pub scale: &'static str,
    /// `--time-ticks-at-unix-epoch`, fixed per boot.
    pub epoch_ticks: u64,
}

pub(crate) struct Host {
    pub fqdn: String,
    pub role: Role,
    /// What a server does: "web", "sql", "file", "app", "backup" or "dc"; "" on clients.
    pub duty: &'static str,
    /// The interactive user's account name (also the profile folder name).
    pub user: String,
    /// Chrome user (else Edge).
    pub chrome: bool,
    /// OneDrive installed per user, under the profile, rather than per machine.
    pub onedrive_in_profile: bool,
    /// The repository a developer works in.
    pub repo: &'static str,
    pub browser: Browser,
    /// Long-lived processes (services.exe, explorer.exe, svchost groups, browsers) by role.
    pub procs: HashMap<&'static str, Proc>,
    machine_id: u32,
    boot: u8,
    seq: u32,
    accounts: Vec<Account>,
}

impl Host {
    pub(crate) fn account(&self, who: Who) -> &Account {
        &self.accounts[who.account_index()]
    }

    /// A new Sysmon process GUID: machine id, start time, a per-host sequence number.
    pub(crate) fn process_guid(&mut self, unix_s: u64) -> String {
        self.seq = self.seq.wrapping_add(1) & 0xffff;
        format!(
            "{{{:08x}-{:04x}-{:04x}-{:02x}{:02x}-00000000{:02x}00}}",
            self.machine_id,
            unix_s & 0xffff,
            (unix_s >> 16) & 0xffff,
            self.seq & 0xff,
            self.seq >> 8,
            self.boot
        )
    }
}

/// A Sysmon logon GUID: machine id, logon time, logon id in little-endian bytes.
fn logon_guid(machine_id: u32, unix_s: u64, logon_id: u64) -> String {
    let b = logon_id.to_le_bytes();
    format!(
        "{{{:08x}-{:04x}-{:04x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}}}",
        machine_id,
        unix_s & 0xffff,
        (unix_s >> 16) & 0xffff,
        b[0],
        b[1],
        b[2],
        b[3],
        b[4],
        b[5],
        b[6],
        b[7]
    )
}

pub(crate) struct Fleet {
    pub hosts: Vec<Host>,
    /// COM classes that dllhost.exe surrogates are started for.
    pub clsids: Vec<String>,
    /// Packaged-app server names for backgroundTaskHost.exe.
    pub appx: Vec<String>,
}

const FIRST_NAMES: [&str; 30] = [
    "amara", "bastien", "chiara", "dmitri", "elif", "farah", "goran", "hana", "ivo", "jonas", "keiko", "lena", "mateo",
    "nadia", "oskar", "priya", "quentin", "rosa", "soren", "tamsin", "uma", "viktor", "wen", "xavi", "yara", "zeno",
    "ines", "malik", "noor", "pavel",
];
const LAST_NAMES: [&str; 25] = [
    "abernathy",
    "bergstrom",
    "castellano",
    "delacroix",
    "eklund",
    "fairweather",
    "gallardo",
    "holmqvist",
    "ivanova",
    "jablonski",
    "kowalczyk",
    "lindqvist",
    "moreau",
    "nakashima",
    "okafor",
    "petrov",
    "quinlan",
    "rasmussen",
    "santoro",
    "thorne",
    "underwood",
    "valdez",
    "whitlock",
    "yilmaz",
    "zimmer",
];
const SERVERS: [(&str, &str); 10] = [
    ("SRV-WEB-01", "web"),
    ("SRV-WEB-02", "web"),
    ("SRV-APP-01", "app"),
    ("SRV-APP-02", "app"),
    ("SRV-SQL-01", "sql"),
    ("SRV-FS-01", "file"),
    ("SRV-BKP-01", "backup"),
    ("SRV-DC-01", "dc"),
    ("SRV-DC-02", "dc"),
    ("SRV-RDS-01", "app"),
];
pub(crate) const REPOS: [&str; 4] = ["billing-api", "portal-web", "etl-jobs", "inventory-svc"];
const WORKSTATIONS: usize = 36;
const DEVELOPERS: usize = 8;
const ADMINS: usize = 4;

impl Fleet {
    pub(crate) fn new(rng: &mut Rand, start_unix_s: u64) -> Fleet {
        let mut people: Vec<String> = Vec::new();
        while people.len() < WORKSTATIONS + DEVELOPERS + ADMINS {
            let name = format!("{}.{}", rng.pick(&FIRST_NAMES), rng.pick(&LAST_NAMES));
            if !people.contains(&name) {
                people.push(name);
            }
        }
        let admins: Vec<String> = people[WORKSTATIONS + DEVELOPERS..].iter().map(|p| format!("adm-{p}")).collect();

        let mut names: Vec<(String, Role, &'static str)> = Vec::new();
        while names.len() < WORKSTATIONS + DEVELOPERS {
            let role = if names.len() < WORKSTATIONS { Role::Workstation } else { Role::Developer };
            let prefix = if role == Role::Workstation { "WKS" } else { "DEV" };
            let name = format!("{prefix}-{:04}", rng.range(100, 999));
            if !names.iter().any(|(n, _, _)| *n == name) {
                names.push((name, role, ""));
            }
        }
        names.extend(SERVERS.iter().map(|&(n, d)| (n.to_string(), Role::Server, d)));

        let hosts = names
            .into_iter()
            .enumerate()
            .map(|(i, (name, role, duty))| {
                let user = match role {
                    Role::Server => rng.pick(&admins).clone(),
                    _ => people[i].clone(),
                };
                new_host(rng, start_unix_s, name, role, duty, user)
            })
            .collect();
        Fleet {
            hosts,
            clsids: (0..16).map(|_| rng.guid(true)).collect(),
            appx: (0..6)
                .map(|_| format!("App.AppX{}.mca", rng.chars(32, b"abcdefghijklmnopqrstuvwxyz0123456789")))
                .collect(),
        }
    }

    /// A random host whose role is in `mask`.
    pub(crate) fn pick(&self, rng: &mut Rand, mask: u8) -> usize {
        loop {
            let h = rng.below(self.hosts.len());
            if self.hosts[h].role.bit() & mask != 0 {
                return h;
            }
        }
    }
}

fn new_host(rng: &mut Rand, start_unix_s: u64, name: String, role: Role, duty: &'static str, user: String) -> Host {
    let machine_id = rng.u64() as u32;
    let boot_s = start_unix_s - rng.range(3_600, 9 * 86_400);
    let logon_s = boot_s + rng.range(30, 3_600);
    let user_logon = rng.range(0x2_0000, 0x1ff_ffff);
    let session = if role == Role::Server { rng.range(2, 4) as u32 } else { 1 };
    let account = |name: String, id: u64, at: u64, session: u32| Account {
        logon_guid: logon_guid(machine_id, at, id),
        name,
        logon_id: id,
        session,
    };
    let domain_user = format!(r"CORP\{user}");
    let accounts = vec![
        account(r"NT AUTHORITY\SYSTEM".into(), 0x3e7, boot_s, 0),
        account(r"NT AUTHORITY\LOCAL SERVICE".into(), 0x3e5, boot_s, 0),
        account(r"NT AUTHORITY\NETWORK SERVICE".into(), 0x3e4, boot_s, 0),
        account(domain_user.clone(), user_logon, logon_s, session),
        account(domain_user, user_logon + rng.range(8, 400), logon_s, session),
        account(r"IIS APPPOOL\Payments".into(), rng.range(0x10_0000, 0x8f_ffff), boot_s + 40, 0),
    ];

    // Each installation has its own set of field trials: 15–55 enabled and 3–14 disabled
    // features out of 9,000 names, so renderer command lines range from ~1,000 to ~2,400 chars.
    let features = |rng: &mut Rand, n: u64| {
        (0..rng.range(n / 3, n)).map(|_| text::feature_name(rng.below(9_000))).collect::<Vec<_>>().join(",")
    };
    let gpu_prefs_len = rng.range(60, 90) as usize;
    let browser = Browser {
        enable: features(rng, 56),
        disable: features(rng, 15),
        field_trial: format!("{},i,{},{},262144", rng.range(1_700, 2_200), rng.u64() >> 1, rng.u64() >> 1),
        gpu_prefs: text::base64(&rng.bytes(gpu_prefs_len)),
        seed_version: format!(
            "202610{:02}-{:06}.{:06}",
            rng.range(10, 31),
            rng.range(0, 235_959),
            rng.range(0, 999_999)
        ),
        next_client: rng.range(4, 9) as u32,
        scale: ["1", "1", "1.25", "1.5"][rng.below(4)],
        epoch_ticks: rng.range(1_700_000_000_000_000, 1_790_000_000_000_000),
    };

    Host {
        fqdn: format!("{name}.{DOMAIN}"),
        role,
        duty,
        user,
        chrome: rng.chance(550),
        onedrive_in_profile: rng.chance(250),
        repo: REPOS[rng.below(REPOS.len())],
        browser,
        procs: HashMap::new(),
        machine_id,
        boot: rng.range(1, 15) as u8,
        seq: rng.range(0x100, 0x4000) as u32,
        accounts,
    }
}

/// Version information of an image, as Sysmon logs it.
pub(crate) struct Meta {
    pub version: &'static str,
    pub description: &'static str,
    pub product: &'static str,
    pub company: &'static str,
    pub original: &'static str,
}

const MS: &str = "Microsoft Corporation";
const WINDOWS: &str = "Microsoft® Windows® Operating System";
const WIN_VERSION: &str = "10.0.22621.4391 (WinBuild.160101.0800)";
const NET: &str = "4.8.9261.0 built by: NET481REL1LAST_C";
const NET_PRODUCT: &str = "Microsoft® .NET Framework";
const VS: &str = "Microsoft® Visual Studio®";
const SQL: &str = "Microsoft SQL Server";
const SQL_VERSION: &str = "2022.160.4155.4";
const DEFENDER: &str = "4.18.24090.11 (WinBuild.160101.0800)";
const OFFICE: &str = "Microsoft Office";
const OFFICE_VERSION: &str = "16.0.18129.20158";
const ONEDRIVE: &str = "Microsoft OneDrive";
const ONEDRIVE_VERSION: &str = "24.211.1020.0002";
const FABRIKAM: (&str, &str, &str) = ("9.2.1187.0", "Fabrikam Backup", "Fabrikam, Inc.");
const NORTHWIND: (&str, &str, &str) = ("6.4.310.0", "Northwind Endpoint Protection", "Northwind Security Ltd.");

/// Windows binaries by lower-case file name: description and original file name.
#[rustfmt::skip]
const WINDOWS_BINARIES: &[(&str, &str, &str)] = &[
    ("svchost.exe", "Host Process for Windows Services", "svchost.exe"),
    ("services.exe", "Services and Controller app", "services.exe"),
    ("userinit.exe", "Userinit Logon Application", "USERINIT.EXE"),
    ("explorer.exe", "Windows Explorer", "EXPLORER.EXE"),
    ("conhost.exe", "Console Window Host", "CONHOST.EXE"),
    ("cmd.exe", "Windows Command Processor", "Cmd.Exe"),
    ("taskhostw.exe", "Host Process for Windows Tasks", "taskhostw.exe"),
    ("dllhost.exe", "COM Surrogate", "dllhost.exe"),
    ("runtimebroker.exe", "Runtime Broker", "RuntimeBroker.exe"),
    ("wmiprvse.exe", "WMI Provider Host", "Wmiprvse.exe"),
    ("smartscreen.exe", "Windows Defender SmartScreen", "smartscreen.exe"),
    ("backgroundtaskhost.exe", "Background Task Host", "backgroundTaskHost.exe"),
    ("mousocoreworker.exe", "MoUSO Core Worker Process", "MoUSOCoreWorker.exe"),
    ("tiworker.exe", "Windows Modules Installer Worker", "TiWorker.exe"),
    ("trustedinstaller.exe", "Windows Modules Installer", "TrustedInstaller.exe"),
    ("wuauclt.exe", "Windows Update", "wuauclt.exe"),
    ("usoclient.exe", "UsoClient", "UsoClient"),
    ("searchindexer.exe", "Microsoft Windows Search Indexer", "SearchIndexer.exe"),
    ("searchprotocolhost.exe", "Microsoft Windows Search Protocol Host", "SearchProtocolHost.exe"),
    ("searchfilterhost.exe", "Microsoft Windows Search Filter Host", "SearchFilterHost.exe"),
    ("consent.exe", "Consent UI for administrative applications", "consent.exe"),
    ("werfault.exe", "Windows Problem Reporting", "WerFault.exe"),
    ("wermgr.exe", "Windows Problem Reporting", "WerMgr"),
    ("wudfhost.exe", "Windows Driver Foundation - User-mode Driver Framework Host Process", "WUDFHost.exe"),
    ("audiodg.exe", "Windows Audio Device Graph Isolation", "AUDIODG.EXE"),
    ("sppsvc.exe", "Microsoft Software Protection Platform Service", "sppsvc.exe"),
    ("spoolsv.exe", "Spooler SubSystem App", "spoolsv.exe"),
    ("splwow64.exe", "Print driver host for applications", "splwow64.exe"),
    ("msiexec.exe", "Windows® installer", "msiexec.exe"),
    ("cleanmgr.exe", "Disk Space Cleanup Manager for Windows", "CLEANMGR.EXE"),
    ("compattelrunner.exe", "Microsoft Compatibility Telemetry", "CompatTelRunner.exe"),
    ("defrag.exe", "Disk Defragmenter Module", "Defrag.EXE"),
    ("notepad.exe", "Notepad", "NOTEPAD.EXE"),
    ("mspaint.exe", "Paint", "MSPAINT.EXE"),
    ("mmc.exe", "Microsoft Management Console", "MMC.EXE"),
    ("powershell.exe", "Windows PowerShell", "PowerShell.EXE"),
    ("whoami.exe", "whoami - displays logged on user information", "whoami.exe"),
    ("net.exe", "Net Command", "net.exe"),
    ("net1.exe", "Net Command", "net1.exe"),
    ("ipconfig.exe", "IP Configuration Utility", "ipconfig.exe"),
    ("ping.exe", "TCP/IP Ping Command", "ping.exe"),
    ("nslookup.exe", "nslookup", "nslookup.exe"),
    ("netstat.exe", "TCP/IP Netstat Command", "netstat.exe"),
    ("tasklist.exe", "Lists the current running tasks", "tasklist.exe"),
    ("netsh.exe", "Network Command Shell", "netsh.exe"),
    ("w32tm.exe", "Time Service Diagnostic Tool", "w32tm.exe"),
    ("sc.exe", "Service Control Manager Configuration Tool", "sc.exe"),
    ("schtasks.exe", "Task Scheduler Configuration Tool", "schtasks.exe"),
    ("gpupdate.exe", "Microsoft® Group Policy Update Utility", "gpupdate.exe"),
    ("klist.exe", "Kerberos List Commandline Tool", "klist.exe"),
    ("robocopy.exe", "Microsoft Robocopy", "ROBOCOPY.exe"),
    ("forfiles.exe", "ForFiles - Executes a command on selected files", "forfiles.exe"),
    ("certutil.exe", "CertUtil.exe", "CertUtil.exe"),
    ("mshta.exe", "Microsoft (R) HTML Application host", "MSHTA.EXE"),
    ("rundll32.exe", "Windows host process (Rundll32)", "RUNDLL32.EXE"),
    ("regsvr32.exe", "Microsoft(C) Register Server", "REGSVR32.EXE"),
    ("wscript.exe", "Microsoft ® Windows Based Script Host", "wscript.exe"),
    ("cscript.exe", "Microsoft ® Console Based Script Host", "cscript.exe"),
    ("reg.exe", "Registry Console Tool", "reg.exe"),
    ("fodhelper.exe", "Features On Demand Helper", "FodHelper.EXE"),
    ("vssadmin.exe", "Command Line Interface for Microsoft® Volume Shadow Copy Service ", "VSSADMIN.EXE"),
    ("wmic.exe", "WMI Commandline Utility", "wmic.exe"),
    ("bcdedit.exe", "Boot Configuration Data Editor", "bcdedit.exe"),
];

/// Other binaries by lower-case file name: version, description, product, company, original
/// file name.
#[rustfmt::skip]
const OTHER_BINARIES: &[(&str, &str, &str, &str, &str, &str)] = &[
    // A renamed cdb.exe (dbghelp_svc.exe, in the attack scenarios) keeps its version resource.
    ("cdb.exe", "10.0.26100.1 (WinBuild.160101.0800)", "Symbolic Debugger for Windows", WINDOWS, MS, "CDB.Exe"),
    ("dbghelp_svc.exe", "10.0.26100.1 (WinBuild.160101.0800)", "Symbolic Debugger for Windows", WINDOWS, MS, "CDB.Exe"),
    ("w3wp.exe", "10.0.20348.1 (WinBuild.160101.0800)", "IIS Worker Process", "Internet Information Services", MS, "w3wp.exe"),
    ("mpcmdrun.exe", DEFENDER, "Microsoft Malware Protection Command Line Utility", WINDOWS, MS, "MpCmdRun.exe"),
    ("msmpeng.exe", DEFENDER, "Antimalware Service Executable", WINDOWS, MS, "MsMpEng.exe"),
    ("ngentask.exe", NET, "Microsoft .NET Framework optimization service", NET_PRODUCT, MS, "NGenTask.exe"),
    ("ngen.exe", NET, "Microsoft Common Language Runtime native compiler", NET_PRODUCT, MS, "ngen.exe"),
    ("mscorsvw.exe", NET, ".NET Runtime Optimization Service", NET_PRODUCT, MS, "mscorsvw.exe"),
    ("chrome.exe", "131.0.6778.86", "Google Chrome", "Google Chrome", "Google LLC", "chrome.exe"),
    ("msedge.exe", "131.0.2903.70", "Microsoft Edge", "Microsoft Edge", MS, "msedge.exe"),
    ("microsoftedgeupdate.exe", "1.3.195.31", "Microsoft Edge Update", "Microsoft Edge Update", MS, "MicrosoftEdgeUpdate.exe"),
    ("teams.exe", "1.7.00.26062", "Microsoft Teams", "Microsoft Teams", MS, "Teams.exe"),
    ("update.exe", "1.7.00.26062", "Microsoft Teams", "Microsoft Teams", MS, "Update.exe"),
    ("onedrive.exe", ONEDRIVE_VERSION, "Microsoft OneDrive", ONEDRIVE, MS, "OneDrive.exe"),
    ("filecoauth.exe", ONEDRIVE_VERSION, "Microsoft OneDriveFile Co-Authoring Executable", ONEDRIVE, MS, "FileCoAuth.exe"),
    ("onedrivestandaloneupdater.exe", ONEDRIVE_VERSION, "Standalone Updater", ONEDRIVE, MS, "OneDriveStandaloneUpdater.exe"),
    ("winword.exe", OFFICE_VERSION, "Microsoft Word", OFFICE, MS, "WinWord.exe"),
    ("excel.exe", OFFICE_VERSION, "Microsoft Excel", OFFICE, MS, "Excel.exe"),
    ("powerpnt.exe", OFFICE_VERSION, "Microsoft PowerPoint", OFFICE, MS, "POWERPNT.EXE"),
    ("outlook.exe", OFFICE_VERSION, "Microsoft Outlook", OFFICE, MS, "Outlook.exe"),
    ("7zfm.exe", "24.08", "7-Zip File Manager", "7-Zip", "Igor Pavlov", "7zFM.exe"),
    ("code.exe", "1.95.3", "Visual Studio Code", "Visual Studio Code", MS, "electron.exe"),
    ("windowsterminal.exe", "1.21.2911.0", "Windows Terminal", "Windows Terminal", MS, "WindowsTerminal.exe"),
    ("pwsh.exe", "7.4.6.500", "pwsh", "PowerShell", MS, "pwsh.dll"),
    ("git.exe", "2.47.0.2", "Git for Windows", "Git", "The Git Development Community", "git.exe"),
    ("dotnet.exe", "8.0.1124.51707", ".NET Host", "Microsoft® .NET", MS, "dotnet.exe"),
    ("testhost.exe", "17.11.1", "testhost", "Microsoft.TestPlatform", MS, "testhost.dll"),
    ("devenv.exe", "17.11.9.46202", "Microsoft Visual Studio 2022", VS, MS, "devenv.exe"),
    ("msbuild.exe", "17.11.9.46202", "MSBuild.exe", VS, MS, "MSBuild.exe"),
    ("tracker.exe", "17.11.9.46202", "Tracker.exe", VS, MS, "Tracker.exe"),
    ("cl.exe", "14.41.34123.0", "Microsoft® C/C++ Compiler Driver", VS, MS, "CL.exe"),
    ("link.exe", "14.41.34123.0", "Microsoft® Incremental Linker", VS, MS, "LINK.EXE"),
    ("python.exe", "3.12.7", "Python", "Python", "Python Software Foundation", "python.exe"),
    ("node.exe", "20.18.1", "Node.js JavaScript Runtime", "Node.js", "Node.js", "node.exe"),
    ("sqlservr.exe", SQL_VERSION, "SQL Server Windows NT - 64 Bit", SQL, MS, "sqlservr.exe"),
    ("sqlagent.exe", SQL_VERSION, "SQLAGENT - SQL Server Agent", SQL, MS, "SQLAGENT.EXE"),
    ("dtexec.exe", SQL_VERSION, "SQL Server Execute Package Utility", SQL, MS, "DTExec.exe"),
    ("sqlcmd.exe", SQL_VERSION, "T-SQL execution utility", SQL, MS, "SQLCMD.EXE"),
    ("fbagent.exe", FABRIKAM.0, "Fabrikam Backup Agent Service", FABRIKAM.1, FABRIKAM.2, "fbagent.exe"),
    ("fbsnap.exe", FABRIKAM.0, "Fabrikam Snapshot Helper", FABRIKAM.1, FABRIKAM.2, "fbsnap.exe"),
    ("fbupload.exe", FABRIKAM.0, "Fabrikam Vault Uploader", FABRIKAM.1, FABRIKAM.2, "fbupload.exe"),
    ("nwsvc.exe", NORTHWIND.0, "Northwind Endpoint Service", NORTHWIND.1, NORTHWIND.2, "nwsvc.exe"),
    ("nwscan.exe", NORTHWIND.0, "Northwind On-Demand Scanner", NORTHWIND.1, NORTHWIND.2, "nwscan.exe"),
];

/// Version information by file name. Images unknown here (dropped payloads, in-house tools)
/// have none, which Sysmon logs as "-".
pub(crate) fn meta(image: &str) -> Meta {
    let file = image.rsplit('\\').next().unwrap_or(image).to_ascii_lowercase();
    if let Some(&(_, description, original)) = WINDOWS_BINARIES.iter().find(|b| b.0 == file) {
        return Meta { version: WIN_VERSION, description, product: WINDOWS, company: MS, original };
    }
    if let Some(&(_, version, description, product, company, original)) = OTHER_BINARIES.iter().find(|b| b.0 == file) {
        return Meta { version, description, product, company, original };
    }
    Meta { version: "-", description: "-", product: "-", company: "-", original: "-" }
}

/// The `Hashes` value of an image: synthetic, derived from the lower-cased path only, so every
/// event of one image carries the same hashes.
pub(crate) fn hashes(image: &str) -> String {
    let mut state = text::fnv1a(&image.to_ascii_lowercase());
    let md5 = text::hex_from(&mut state, 32);
    let sha256 = text::hex_from(&mut state, 64);
    let imphash = text::hex_from(&mut state, 32);
    format!("MD5={md5},SHA256={sha256},IMPHASH={imphash}")
}
