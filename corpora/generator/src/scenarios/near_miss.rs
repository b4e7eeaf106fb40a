//! Near misses: benign command lines that share words with attacks.

use super::*;

pub(super) fn ps_encoding(g: &mut Generator, h: usize) {
    let host = g.host_name(h);
    let date = &crate::text::timestamps(g.clock_ms).0[..10];
    let line = match g.rng.below(5) {
        0 => r"Get-Content -Path 'C:\Scripts\servers.txt' -Encoding UTF8 | ForEach-Object { Test-Connection -ComputerName $_ -Count 1 -Quiet }".to_string(),
        1 => format!(r"Get-Service | Select-Object Name,Status | Export-Csv -Path 'C:\Reports\services-{host}-{date}.csv' -Encoding UTF8 -NoTypeInformation"),
        2 => r"Get-LocalGroupMember -Group Administrators | Out-File -FilePath 'C:\ProgramData\Example Corp\Inventory\admins.txt' -Encoding UTF8".into(),
        3 => format!(r"Set-Content -Path 'C:\ProgramData\Example Corp\health.txt' -Value '{date} ok' -Encoding UTF8"),
        _ => format!(r"(Get-Content '{FABRIKAM}\agent.json' -Raw -Encoding UTF8 | ConvertFrom-Json).schedule"),
    };
    if g.rng.chance(500) {
        let schedule = g.resident(h, "schedule");
        let cmd = format!(r#""{POWERSHELL}" -NoProfile -NonInteractive -Command "{line}""#);
        g.console(&schedule, Who::System, POWERSHELL, cmd, "", Kind::NearMiss);
    } else {
        let explorer = g.resident(h, "explorer");
        let (image, who) = if g.rng.chance(300) { (PWSH, Who::User) } else { (POWERSHELL, Who::Admin) };
        let cmd = format!(r#""{image}" -NoProfile -Command "{line}""#);
        g.spawn(&explorer, who, image, cmd, "", Kind::NearMiss);
    }
}

pub(super) fn ps_bypass_file(g: &mut Generator, h: usize) {
    let schedule = g.resident(h, "schedule");
    let script = match g.rng.below(3) {
        0 => format!(r#""{FABRIKAM}\scripts\check-vss.ps1" -Volume {}"#, g.rng.pick(&["C:", "D:"])),
        1 => format!(r"\\{DOMAIN}\NETLOGON\inventory.ps1 -Site {}", g.rng.pick(&["HQ", "Branch1", "Branch2"])),
        _ => format!(r"C:\Scripts\Maintenance\Rotate-Logs.ps1 -Days {}", g.rng.range(7, 30)),
    };
    let cmd = format!(r#""{POWERSHELL}" -NoProfile -ExecutionPolicy Bypass -File {script}"#);
    g.console(&schedule, Who::System, POWERSHELL, cmd, "", Kind::NearMiss);
}

pub(super) fn ps_download_to_file(g: &mut Generator, h: usize) {
    let pwsh = g.resident(h, "pwsh");
    let user = g.user(h);
    let tool = g.rng.pick(&["sysinternals.zip", "jq-win64.exe", "node-v20.18.1-x64.msi", "dotnet-sdk-8.0.404.exe"]);
    let cmd = format!(
        r#""{PWSH}" -NoProfile -Command "Invoke-WebRequest -Uri https://downloads.{DOMAIN}/tools/{tool} -OutFile C:\Users\{user}\Downloads\{tool} -UseBasicParsing""#
    );
    g.spawn(&pwsh, Who::User, PWSH, cmd, "", Kind::NearMiss);
}

pub(super) fn certutil_admin(g: &mut Generator, h: usize) {
    let user = g.user(h);
    let explorer = g.resident(h, "explorer");
    let shell = g.console(&explorer, Who::User, CMD, r#""C:\Windows\system32\cmd.exe" "#, "", Kind::NearMiss);
    let cmd = match g.rng.below(4) {
        0 | 1 => {
            let file = g.rng.pick(&["setup.msi", "jq-win64.exe", "firmware-2.4.1.bin", "photos.zip"]);
            format!(r"certutil  -hashfile C:\Users\{user}\Downloads\{file} SHA256")
        }
        2 => "certutil  -store My".into(),
        _ => "certutil  -urlcache * delete".into(),
    };
    g.spawn(&shell, Who::User, CERTUTIL, cmd, "", Kind::NearMiss);
}

pub(super) fn mshta_local(g: &mut Generator, h: usize) {
    let explorer = g.resident(h, "explorer");
    let hta = g.rng.pick(&[
        r"C:\Program Files\Fabrikam\Kiosk\launcher.hta",
        r"C:\Program Files (x86)\Northwind\HelpDesk\ticket.hta",
    ]);
    let cmd = format!(
        r#""C:\Windows\System32\mshta.exe" "{hta}" {{1E460BD7-F1C3-4B2E-88BF-4E770A288AF5}}{{1E460BD7-F1C3-4B2E-88BF-4E770A288AF5}}"#
    );
    g.spawn(&explorer, Who::User, MSHTA, cmd, "", Kind::NearMiss);
}

pub(super) fn rundll32_shell(g: &mut Generator, h: usize) {
    let user = g.user(h);
    let explorer = g.resident(h, "explorer");
    let cmd = match g.rng.below(6) {
        0 => {
            let cpl = g.rng.pick(&["desk.cpl,,0", "inetcpl.cpl", "sysdm.cpl,,3", "ncpa.cpl", "mmsys.cpl"]);
            format!(r#""C:\Windows\system32\rundll32.exe" C:\Windows\system32\shell32.dll,Control_RunDLL {cpl}"#)
        }
        1 => format!(
            r#""C:\Windows\system32\rundll32.exe" printui.dll,PrintUIEntry /in /n "\\print01.{DOMAIN}\{}""#,
            g.rng.pick(&["Floor3-Color", "Floor2-Mono", "Reception"])
        ),
        2 => format!(
            r#""C:\Windows\system32\rundll32.exe" C:\Windows\system32\shell32.dll,OpenAs_RunDLL C:\Users\{user}\Downloads\{}"#,
            g.rng.pick(&["export.dat", "trace.etl", "notes.md", "backup.bak"])
        ),
        3 => format!(
            r#""C:\Windows\System32\rundll32.exe" "C:\Program Files\Windows Photo Viewer\PhotoViewer.dll", ImageView_Fullscreen C:\Users\{user}\Downloads\IMG_{}.jpg"#,
            g.rng.range(1_000, 9_999)
        ),
        4 => {
            let dcom = g.resident(h, "dcom");
            let cmd = r"C:\Windows\system32\rundll32.exe C:\Windows\system32\shell32.dll,SHCreateLocalServerRunDll {9BA05972-F6A8-11CF-A442-00A0C90A8F39} -Embedding";
            g.spawn(&dcom, Who::User, RUNDLL32, cmd, "", Kind::NearMiss);
            return;
        }
        _ => {
            let target = g.server("file");
            let svc = g.resident(h, "services");
            let cmd = format!(
                r"C:\Windows\system32\rundll32.exe C:\Windows\system32\davclnt.dll,DavSetCookie {} https://{}/shares/",
                g.fleet.hosts[target].fqdn.to_lowercase(),
                g.fleet.hosts[target].fqdn.to_lowercase()
            );
            g.spawn(&svc, Who::User, RUNDLL32, cmd, "", Kind::NearMiss);
            return;
        }
    };
    g.spawn(&explorer, Who::User, RUNDLL32, cmd, "", Kind::NearMiss);
}

pub(super) fn regsvr32_local(g: &mut Generator, h: usize) {
    let parent = g.resident(h, "services");
    let msi = g.start(&parent, Who::System, r"C:\Windows\System32\msiexec.exe", r"C:\Windows\system32\msiexec.exe /V");
    let cmd = match g.rng.below(3) {
        0 => {
            format!(r#""C:\Windows\system32\regsvr32.exe" /s "{FABRIKAM}\shellext\fbshell64.dll""#)
        }
        1 => format!(r#""C:\Windows\system32\regsvr32.exe" /s "{NORTHWIND}\nwctx.dll""#),
        _ => r#""C:\Windows\system32\regsvr32.exe" /s /n /i:U shell32.dll"#.into(),
    };
    g.spawn(&msi, Who::System, REGSVR32, cmd, "", Kind::NearMiss);
}

pub(super) fn cmd_from_explorer(g: &mut Generator, h: usize) {
    let user = g.user(h);
    let explorer = g.resident(h, "explorer");
    if g.rng.chance(350) {
        let bat = g.rng.pick(&["map-drives.bat", "vpn-reset.cmd", "clear-teams-cache.cmd"]);
        let cmd = format!(r#"C:\Windows\system32\cmd.exe /c ""C:\Users\{user}\Desktop\{bat}" ""#);
        let shell = g.console(&explorer, Who::User, CMD, cmd, &format!(r"C:\Users\{user}\Desktop\"), Kind::NearMiss);
        let share = g.rng.pick(&FILE_SHARES);
        let cmd = format!(r"net  use S: \\srv-fs-01.{DOMAIN}\shares\{share} /persistent:yes");
        g.start(&shell, Who::User, NET, cmd);
        return;
    }
    let shell = g.console(&explorer, Who::User, CMD, r#""C:\Windows\system32\cmd.exe" "#, "", Kind::NearMiss);
    for _ in 0..g.rng.range(1, 3) {
        let (image, cmd) = match g.rng.below(5) {
            0 => (r"C:\Windows\System32\ipconfig.exe", "ipconfig  /all".to_string()),
            1 => (r"C:\Windows\System32\PING.EXE", format!("ping  -n 4 192.0.2.{}", g.rng.range(1, 254))),
            2 => {
                let t = g.fleet.pick(&mut g.rng, SRV);
                (r"C:\Windows\System32\nslookup.exe", format!("nslookup  {}", g.fleet.hosts[t].fqdn.to_lowercase()))
            }
            3 => (r"C:\Windows\System32\ipconfig.exe", "ipconfig  /flushdns".into()),
            _ => (r"C:\Windows\System32\klist.exe", "klist  purge".into()),
        };
        g.start(&shell, Who::User, image, cmd);
    }
}

pub(super) fn logon_script(g: &mut Generator, h: usize) {
    let userinit = g.resident(h, "userinit");
    let user = g.user(h);
    let cmd = format!(r#""C:\Windows\System32\WScript.exe" "\\{DOMAIN}\NETLOGON\logon.vbs""#);
    let script = g.spawn(&userinit, Who::User, WSCRIPT, cmd, "", Kind::NearMiss);
    let cmd = format!(r"C:\Windows\system32\net.exe use H: \\srv-fs-01.{DOMAIN}\home$\{user} /persistent:no");
    let net = g.start(&script, Who::User, NET, cmd);
    let cmd = format!(r"C:\Windows\system32\net1 use H: \\srv-fs-01.{DOMAIN}\home$\{user} /persistent:no");
    g.start(&net, Who::User, NET1, cmd);
}

pub(super) fn whoami_plain(g: &mut Generator, h: usize) {
    let explorer = g.resident(h, "explorer");
    let shell = g.console(&explorer, Who::User, CMD, r#""C:\Windows\system32\cmd.exe" "#, "", Kind::NearMiss);
    g.spawn(&shell, Who::User, WHOAMI, "whoami", "", Kind::NearMiss);
}

pub(super) fn cscript_slmgr(g: &mut Generator, h: usize) {
    let explorer = g.resident(h, "explorer");
    let shell = g.console(&explorer, Who::Admin, CMD, r#""C:\Windows\system32\cmd.exe" "#, "", Kind::NearMiss);
    let flag = g.rng.pick(&["/dli", "/dlv", "/xpr", "/ato"]);
    let cmd = format!(r#""C:\Windows\System32\cscript.exe" C:\Windows\system32\slmgr.vbs {flag}"#);
    g.spawn(&shell, Who::Admin, CSCRIPT, cmd, "", Kind::NearMiss);
}

pub(super) fn schtasks_query(g: &mut Generator, h: usize) {
    let explorer = g.resident(h, "explorer");
    let cmd = match g.rng.below(3) {
        0 => "schtasks.exe /query /fo LIST /v".to_string(),
        1 => r#"schtasks.exe /run /tn "\Example Corp\Inventory""#.into(),
        _ => r#"schtasks.exe /query /tn "\Example Corp\Patching" /fo CSV"#.into(),
    };
    let shell = g.console(&explorer, Who::Admin, CMD, r#""C:\Windows\system32\cmd.exe" "#, "", Kind::NearMiss);
    g.spawn(&shell, Who::Admin, SCHTASKS, cmd, "", Kind::NearMiss);
}

pub(super) fn net_user_domain(g: &mut Generator, h: usize) {
    let explorer = g.resident(h, "explorer");
    let other = g.fleet.pick(&mut g.rng, CLIENT);
    let other = g.user(other);
    let shell = g.console(&explorer, Who::User, CMD, r#""C:\Windows\system32\cmd.exe" "#, "", Kind::NearMiss);
    let net = g.spawn(&shell, Who::User, NET, format!("net  user {other} /domain"), "", Kind::NearMiss);
    g.spawn(&net, Who::User, NET1, format!(r"C:\Windows\system32\net1  user {other} /domain"), "", Kind::NearMiss);
}

pub(super) fn vssadmin_list(g: &mut Generator, h: usize) {
    let agent = g.resident(h, "backup");
    let volume = g.rng.pick(&["C:", "D:", "E:"]);
    let cmd = format!(r"C:\Windows\system32\vssadmin.exe list shadows /for={volume}");
    g.console(&agent, Who::System, r"C:\Windows\System32\vssadmin.exe", cmd, "", Kind::NearMiss);
}

pub(super) fn cdb_dump(g: &mut Generator, h: usize) {
    let pwsh = g.resident(h, "pwsh");
    let cdb = r"C:\Program Files (x86)\Windows Kits\10\Debuggers\x64\cdb.exe";
    let cmd = format!(
        r#""{cdb}" -z C:\CrashDumps\{}.exe.{}.dmp -c "!analyze -v; q""#,
        g.rng.pick(&["billing-svc", "InventorySync", "EtlRunner"]),
        g.rng.pid()
    );
    g.spawn(&pwsh, Who::User, cdb, cmd, "", Kind::NearMiss);
}

pub(super) fn fodhelper_user(g: &mut Generator, h: usize) {
    let explorer = g.resident(h, "explorer");
    let cmd = r#""C:\Windows\system32\fodhelper.exe" "#;
    g.spawn(&explorer, Who::Admin, r"C:\Windows\System32\fodhelper.exe", cmd, "", Kind::NearMiss);
}

pub(super) fn office_print(g: &mut Generator, h: usize) {
    let app = g.rng.pick(&["WINWORD.EXE", "EXCEL.EXE"]);
    let ext = if *app == "EXCEL.EXE" { "xlsx" } else { "docx" };
    let office = open_document(g, h, app, ext, Kind::Benign);
    let cmd = format!(r"C:\Windows\splwow64.exe {}", g.rng.pick(&[8192, 12288]));
    g.spawn(&office, Who::User, r"C:\Windows\splwow64.exe", cmd, "", Kind::NearMiss);
}
