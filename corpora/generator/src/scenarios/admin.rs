//! Benign administration, server workloads, and backup, anti-virus and monitoring agents.

use super::*;

/// A PowerShell one-liner of an administrator (single-quoted, to sit inside `-Command "…"`).
pub(super) fn admin_oneliner(g: &mut Generator) -> String {
    let service = g.rng.pick(&[
        "W3SVC",
        "WAS",
        "Spooler",
        "MSSQLSERVER",
        "SQLSERVERAGENT",
        "WinRM",
        "DFSR",
        "W32Time",
        "fbagent",
    ]);
    let days = g.rng.range(7, 90);
    match g.rng.below(12) {
        0 => format!("Get-Service -Name {service} | Select-Object Name,Status,StartType"),
        1 => format!(
            "Get-ChildItem -Path {} -Filter *.log -Recurse | Where-Object {{ $_.LastWriteTime -lt (Get-Date).AddDays(-{days}) }} | Remove-Item -Force",
            g.rng.pick(&[r"D:\Logs", r"C:\inetpub\logs\LogFiles", r"C:\Windows\Temp", r"E:\Exports"])
        ),
        2 => format!(
            r"Set-ItemProperty -Path 'HKLM:\SOFTWARE\Example Corp\{}' -Name LastRun -Value (Get-Date -Format o)",
            g.rng.pick(&["Inventory", "Maintenance", "Patching"])
        ),
        3 => format!(
            "Get-WinEvent -LogName {} -MaxEvents {} | Where-Object {{ $_.LevelDisplayName -eq 'Error' }} | Format-List TimeCreated,Id,Message",
            g.rng.pick(&["System", "Application"]),
            g.rng.pick(&[20, 50, 100, 200])
        ),
        4 => format!(
            r"Get-Counter '\Processor(_Total)\% Processor Time' -SampleInterval {} -MaxSamples {}",
            g.rng.range(1, 10),
            g.rng.range(3, 12)
        ),
        5 => format!("Restart-Service -Name {service} -Force"),
        6 => "Get-PSDrive -PSProvider FileSystem | Select-Object Name,Used,Free".into(),
        7 => {
            let target = g.fleet.pick(&mut g.rng, ANY);
            format!(
                "Test-NetConnection -ComputerName {} -Port {}",
                g.fleet.hosts[target].fqdn.to_lowercase(),
                g.rng.pick(&[443, 445, 1433, 3389, 5985])
            )
        }
        8 => format!(
            "Get-ADUser -Filter 'Enabled -eq $true' -Properties LastLogonDate | Where-Object {{ $_.LastLogonDate -lt (Get-Date).AddDays(-{days}) }} | Select-Object SamAccountName,LastLogonDate"
        ),
        9 => format!("Set-Service -Name {service} -StartupType Automatic; Start-Service -Name {service}"),
        10 => "Get-HotFix | Sort-Object InstalledOn -Descending | Select-Object -First 5".into(),
        _ => format!(
            r"Get-ScheduledTask -TaskPath '\Example Corp\' | Get-ScheduledTaskInfo | Select-Object TaskName,LastRunTime,LastTaskResult | Out-String -Width {}",
            g.rng.pick(&[120, 200, 4096])
        ),
    }
}

pub(super) fn admin_powershell(g: &mut Generator, h: usize) {
    let explorer = g.resident(h, "explorer");
    if g.rng.chance(450) {
        let line = admin_oneliner(g);
        let cmd = format!(r#""{POWERSHELL}" -NoProfile -Command "{line}""#);
        g.start(&explorer, Who::Admin, POWERSHELL, cmd);
        return;
    }
    // An interactive elevated session and a few commands typed in it.
    let ps = g.start(&explorer, Who::Admin, POWERSHELL, format!(r#""{POWERSHELL}" "#));
    for _ in 0..g.rng.range(1, 3) {
        let target = g.fleet.pick(&mut g.rng, SRV);
        let target = g.fleet.hosts[target].fqdn.to_lowercase();
        let (image, cmd) = match g.rng.below(7) {
            0 => (r"C:\Windows\System32\ipconfig.exe", r#""C:\Windows\system32\ipconfig.exe" /all"#.to_string()),
            1 => (r"C:\Windows\System32\NETSTAT.EXE", r#""C:\Windows\system32\NETSTAT.EXE" -ano"#.into()),
            2 => (
                r"C:\Windows\System32\sc.exe",
                format!(
                    r#""C:\Windows\system32\sc.exe" query {}"#,
                    g.rng.pick(&["W3SVC", "Spooler", "WinRM", "fbagent"])
                ),
            ),
            3 => (r"C:\Windows\System32\klist.exe", r#""C:\Windows\system32\klist.exe" tickets"#.into()),
            4 => (r"C:\Windows\System32\gpupdate.exe", r#""C:\Windows\system32\gpupdate.exe" /force"#.into()),
            5 => (r"C:\Windows\System32\nslookup.exe", format!(r#""C:\Windows\system32\nslookup.exe" {target}"#)),
            _ => (
                r"C:\Windows\System32\Robocopy.exe",
                format!(
                    r#""C:\Windows\system32\Robocopy.exe" D:\Releases\{} \\{target}\d$\Releases\{} /MIR /R:2 /W:5 /NP"#,
                    g.rng.range(2_400, 2_600),
                    g.rng.range(2_400, 2_600)
                ),
            ),
        };
        g.spawn(&ps, Who::Admin, image, cmd, &format!(r"C:\Users\{}\", g.user(h)), Kind::Benign);
    }
}

pub(super) fn server_duty(g: &mut Generator, h: usize) {
    let schedule = g.resident(h, "schedule");
    match g.fleet.hosts[h].duty {
        "web" => {
            let iis = g.resident(h, "iis");
            let cmd = format!(
                r#"c:\windows\system32\inetsrv\w3wp.exe -ap "Payments" -v "v4.0" -l "webengine4.dll" -a \\.\pipe\iisipm{} -h "C:\inetpub\temp\apppools\Payments\Payments.config" -w "" -m 0 -t 20 -ta 0"#,
                &g.rng.guid(false)[1..37]
            );
            g.start(&iis, Who::AppPool, r"C:\Windows\System32\inetsrv\w3wp.exe", cmd);
        }
        "sql" => {
            let agent = g.resident(h, "sqlagent");
            if g.rng.chance(500) {
                let package = g.rng.pick(&["nightly_orders_load", "refresh_dim_customer", "export_ledger"]);
                let cmd = format!(
                    r#""C:\Program Files\Microsoft SQL Server\160\DTS\Binn\DTExec.exe" /FILE "\"D:\SSIS\Packages\{package}.dtsx\"" /CHECKPOINTING OFF /REPORTING E"#
                );
                g.start(
                    &agent,
                    Who::NetworkService,
                    r"C:\Program Files\Microsoft SQL Server\160\DTS\Binn\DTExec.exe",
                    cmd,
                );
            } else {
                let stamp = g.clock_ms / 60_000 % 100_000;
                let db = g.rng.pick(&["Orders", "Billing", "Inventory"]);
                let query = format!(r"BACKUP LOG [{db}] TO DISK = N'E:\Backup\{db}_log_{stamp}.trn'");
                let cmd = format!(r#"C:\Windows\system32\cmd.exe /c sqlcmd -S localhost -E -b -Q "{query}""#);
                let shell = g.console(&agent, Who::NetworkService, CMD, cmd, "", Kind::Benign);
                let sqlcmd = r"C:\Program Files\Microsoft SQL Server\Client SDK\ODBC\170\Tools\Binn\SQLCMD.EXE";
                g.start(&shell, Who::NetworkService, sqlcmd, format!(r#"sqlcmd  -S localhost -E -b -Q "{query}""#));
            }
        }
        "file" | "backup" => {
            let share = g.rng.pick(&FILE_SHARES);
            let cmd = format!(
                r#""C:\Windows\system32\Robocopy.exe" D:\Shares\{share} \\srv-bkp-01.{DOMAIN}\mirror\{share} /MIR /R:2 /W:5 /NP /LOG+:D:\Logs\robocopy-{}.log"#,
                share.to_lowercase()
            );
            g.start(&schedule, Who::System, r"C:\Windows\System32\Robocopy.exe", cmd);
        }
        "dc" => {
            let line = admin_oneliner(g);
            let cmd = format!(r#""{POWERSHELL}" -NoProfile -NonInteractive -Command "{line}""#);
            g.console(&schedule, Who::System, POWERSHELL, cmd, "", Kind::Benign);
        }
        _ => {
            let image = r"C:\Program Files\Example Corp\Inventory Service\InventorySync.exe";
            let t = crate::text::timestamps(g.clock_ms - 3_600_000).0;
            let cmd = format!(r#""{image}" --mode incremental --since "{}" --batch 500"#, &t[..16]);
            g.spawn(
                &schedule,
                Who::NetworkService,
                image,
                cmd,
                r"C:\Program Files\Example Corp\Inventory Service\",
                Kind::Benign,
            );
        }
    }
}

pub(super) fn agents(g: &mut Generator, h: usize) {
    let user = g.user(h);
    let server = g.fleet.hosts[h].role == Role::Server;
    match g.rng.below(5) {
        0 | 1 => {
            let defender = g.resident(h, "defender");
            let cmd = if g.rng.chance(700) {
                format!(r#""{MPCMDRUN}" SignaturesUpdateService -ScheduleJob -UnmanagedUpdate -ReinvokeReason 0"#)
            } else {
                format!(r#""{MPCMDRUN}" -wdenable"#)
            };
            g.start(&defender, Who::System, MPCMDRUN, cmd);
        }
        2 if server => {
            let agent = g.resident(h, "backup");
            let host = g.host_name(h);
            let volume = g.rng.pick(&["C:", "D:", "E:"]);
            let job = &g.rng.guid(false)[1..37];
            let cmd = format!(
                r#""{FABRIKAM}\fbsnap.exe" --job {job} --volume {volume} --target \\srv-bkp-01.{DOMAIN}\vault\{host}"#
            );
            g.spawn(
                &agent,
                Who::System,
                &format!(r"{FABRIKAM}\fbsnap.exe"),
                cmd,
                &format!(r"{FABRIKAM}\"),
                Kind::Benign,
            );
            let cmd = format!(r#"C:\Windows\system32\cmd.exe /c ""{FABRIKAM}\scripts\pre-freeze.cmd" {volume}""#);
            g.console(&agent, Who::System, CMD, cmd, &format!(r"{FABRIKAM}\scripts\"), Kind::Benign);
        }
        2 | 3 => {
            let agent = g.resident(h, "backup");
            let cmd = format!(
                r#""{FABRIKAM}\fbupload.exe" --session {} --chunk-size 64M --port {} --server srv-bkp-01.{DOMAIN}"#,
                g.rng.hex(16, false),
                g.rng.range(50_000, 50_100)
            );
            g.spawn(
                &agent,
                Who::System,
                &format!(r"{FABRIKAM}\fbupload.exe"),
                cmd,
                &format!(r"{FABRIKAM}\"),
                Kind::Benign,
            );
        }
        _ => {
            let av = g.resident(h, "av");
            let t = crate::text::timestamps(g.clock_ms).0;
            let cmd = if !server && g.rng.chance(500) {
                let file = format!(
                    r"C:\Users\{user}\Downloads\{}",
                    g.rng.pick(&["setup.msi", "report.pdf", "photos.zip", "driver.exe"])
                );
                format!(r#""{NORTHWIND}\nwscan.exe" --on-access --file "{file}""#)
            } else {
                format!(
                    r#""{NORTHWIND}\nwscan.exe" --scheduled --profile quick --log "C:\ProgramData\Northwind Security\Logs\scan-{}{}{}.log""#,
                    &t[..4],
                    &t[5..7],
                    &t[8..10]
                )
            };
            g.start(&av, Who::System, &format!(r"{NORTHWIND}\nwscan.exe"), cmd);
        }
    }
}

/// The monitoring agent's periodic checks: `cmd.exe /c` with the output in a temp file, the
/// command itself, and conhost.exe.
pub(super) fn monitoring(g: &mut Generator, h: usize) {
    let agent = g.resident(h, "av");
    let (image, line) = match g.rng.below(9) {
        0 | 7 | 8 => {
            (r"C:\Windows\System32\tasklist.exe", format!(r#"tasklist /fi "PID eq {}" /fo csv /nh"#, g.rng.pid()))
        }
        1 => (r"C:\Windows\System32\tasklist.exe", "tasklist /svc /fo csv".into()),
        2 => (r"C:\Windows\System32\NETSTAT.EXE", "netstat -ano -p tcp".into()),
        3 => (r"C:\Windows\System32\netsh.exe", "netsh advfirewall show allprofiles state".into()),
        4 => (
            r"C:\Windows\System32\sc.exe",
            format!("sc query {}", g.rng.pick(&["WinDefend", "EventLog", "Dnscache", "W32Time", "fbagent", "Spooler"])),
        ),
        5 => (r"C:\Windows\System32\PING.EXE", format!("ping -n 1 -w 500 192.0.2.{}", g.rng.range(1, 40))),
        _ => (r"C:\Windows\System32\w32tm.exe", "w32tm /query /status".into()),
    };
    let cmd = format!(r"C:\Windows\system32\cmd.exe /c {line} > C:\Windows\TEMP\nw{}.tmp", g.rng.hex(4, true));
    let shell = g.console(&agent, Who::System, CMD, cmd, "", Kind::Benign);
    g.start(&shell, Who::System, image, line);
}
