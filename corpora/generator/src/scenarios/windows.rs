//! Benign activity of Windows itself: services, COM, scheduled tasks, updates, search.

use super::*;

pub(super) fn service_start(g: &mut Generator, h: usize) {
    const SERVICES: [(&str, Who); 32] = [
        ("-k netsvcs -p -s BITS", Who::System),
        ("-k netsvcs -p -s wuauserv", Who::System),
        ("-k netsvcs -p -s UsoSvc", Who::System),
        ("-k netsvcs -p -s gpsvc", Who::System),
        ("-k netsvcs -p -s seclogon", Who::System),
        ("-k netsvcs -p -s wlidsvc", Who::System),
        ("-k netsvcs -p -s NetSetupSvc", Who::System),
        ("-k netsvcs -p -s DsmSvc", Who::System),
        ("-k netsvcs -p -s lfsvc", Who::System),
        ("-k netsvcs -p -s Appinfo", Who::System),
        ("-k wsappx -p -s AppXSvc", Who::System),
        ("-k wsappx -p -s ClipSVC", Who::System),
        ("-k appmodel -p -s StateRepository", Who::System),
        ("-k LocalSystemNetworkRestricted -p -s TrkWks", Who::System),
        ("-k LocalSystemNetworkRestricted -p -s PcaSvc", Who::System),
        ("-k LocalSystemNetworkRestricted -p -s DeviceAssociationService", Who::System),
        ("-k wusvcs -p -s WaaSMedicSvc", Who::System),
        ("-k defragsvc", Who::System),
        ("-k swprv", Who::System),
        ("-k smphost", Who::NetworkService),
        ("-k NetworkService -p -s Dnscache", Who::NetworkService),
        ("-k NetworkService -p -s CryptSvc", Who::NetworkService),
        ("-k NetworkService -p -s TermService", Who::NetworkService),
        ("-k NetworkServiceNetworkRestricted -p -s PolicyAgent", Who::NetworkService),
        ("-k LocalService -p -s BthAvctpSvc", Who::LocalService),
        ("-k LocalService -p -s fdPHost", Who::LocalService),
        ("-k LocalService -s W32Time", Who::LocalService),
        ("-k LocalServiceNetworkRestricted -p -s lmhosts", Who::LocalService),
        ("-k LocalServiceNetworkRestricted -p -s WinHttpAutoProxySvc", Who::LocalService),
        ("-k LocalServiceNoNetworkFirewall -p", Who::LocalService),
        ("-k LocalServiceAndNoImpersonation -p -s SSDPSRV", Who::LocalService),
        ("-k LocalServiceNoNetwork -p -s DPS", Who::LocalService),
    ];
    let services = g.resident(h, "services");
    if g.rng.chance(150) {
        let (image, cmd, who) = *g.rng.pick(&[
            (r"C:\Windows\System32\sppsvc.exe", r"C:\Windows\system32\sppsvc.exe", Who::NetworkService),
            (r"C:\Windows\System32\msiexec.exe", r"C:\Windows\system32\msiexec.exe /V", Who::System),
            (r"C:\Windows\System32\spoolsv.exe", r"C:\Windows\System32\spoolsv.exe", Who::System),
            (r"C:\Windows\servicing\TrustedInstaller.exe", r"C:\Windows\servicing\TrustedInstaller.exe", Who::System),
        ]);
        let service = g.start(&services, who, image, cmd);
        if image.ends_with("msiexec.exe") {
            // The installer service's custom-action server for an install in progress.
            let cmd = format!(r"C:\Windows\syswow64\MsiExec.exe -Embedding {} E Global\MSI0000", g.rng.hex(32, true));
            g.start(&service, Who::System, r"C:\Windows\SysWOW64\msiexec.exe", cmd);
        }
        return;
    }
    let &(args, who) = g.rng.pick(&SERVICES);
    let system32 = if g.rng.chance(500) { "system32" } else { "System32" };
    let cmd = format!(r"C:\Windows\{system32}\svchost.exe {args}");
    g.start(&services, who, SVCHOST, cmd);
}

pub(super) fn com_activation(g: &mut Generator, h: usize) {
    let dcom = g.resident(h, "dcom");
    let user = if g.fleet.hosts[h].role == Role::Server && g.rng.chance(500) { Who::System } else { Who::User };
    match g.rng.below(12) {
        0..=3 => {
            let clsid = g.rng.pick(&g.fleet.clsids).clone();
            let cmd = format!(r"C:\Windows\system32\DllHost.exe /Processid:{clsid}");
            g.start(&dcom, user, r"C:\Windows\System32\dllhost.exe", cmd);
        }
        4 | 5 => {
            let cmd = r"C:\Windows\System32\RuntimeBroker.exe -Embedding";
            g.start(&dcom, Who::User, r"C:\Windows\System32\RuntimeBroker.exe", cmd);
        }
        6 | 7 => {
            let (cmd, who) = if g.rng.chance(600) {
                (r"C:\Windows\system32\wbem\wmiprvse.exe -secured -Embedding", Who::NetworkService)
            } else {
                (r"C:\Windows\system32\wbem\wmiprvse.exe -Embedding", Who::System)
            };
            g.start(&dcom, who, r"C:\Windows\System32\wbem\WmiPrvSE.exe", cmd);
        }
        8 => {
            let cmd = r"C:\Windows\System32\smartscreen.exe -Embedding";
            g.start(&dcom, Who::User, r"C:\Windows\System32\smartscreen.exe", cmd);
        }
        9 | 10 => {
            let server = if g.rng.chance(400) {
                "BackgroundTaskHost.WebAccountProvider".to_string()
            } else {
                g.rng.pick(&g.fleet.appx).clone()
            };
            let cmd = format!(r#""C:\Windows\system32\backgroundTaskHost.exe" -ServerName:{server}"#);
            g.start(&dcom, Who::User, r"C:\Windows\System32\backgroundTaskHost.exe", cmd);
        }
        _ => {
            let cmd = r"C:\Windows\system32\wermgr.exe -upload";
            g.start(&dcom, Who::System, r"C:\Windows\System32\wermgr.exe", cmd);
        }
    }
}

pub(super) fn scheduled_task(g: &mut Generator, h: usize) {
    let schedule = g.resident(h, "schedule");
    let server = g.fleet.hosts[h].role == Role::Server;
    match g.rng.below(14) {
        0..=5 => {
            let (args, who) = *g.rng.pick(&[
                ("", Who::User),
                (" Logon", Who::User),
                (" SYSTEM", Who::System),
                (" -RegisterDevice -ProtectionStateChanged -FreeNetworkOnly", Who::System),
                (" KEYROAMING", Who::User),
                (" NGCKeyPregen", Who::User),
                (" $(Arg0)", Who::User),
            ]);
            g.start(&schedule, who, TASKHOSTW, format!("taskhostw.exe{args}"));
        }
        6 => {
            let cmd =
                r#""C:\Program Files (x86)\Microsoft\EdgeUpdate\MicrosoftEdgeUpdate.exe" /ua /installsource scheduler"#;
            g.start(
                &schedule,
                Who::System,
                r"C:\Program Files (x86)\Microsoft\EdgeUpdate\MicrosoftEdgeUpdate.exe",
                cmd,
            );
        }
        7 => {
            let cv = format!("{}.{}", base64(&g.rng.bytes(12)).replace(['+', '/'], "z"), g.rng.range(1, 9));
            let cmd = format!(
                r"C:\Windows\system32\compattelrunner.exe -m:appraiser.dll -f:DoScheduledTelemetryRun -cv:{cv}"
            );
            g.start(&schedule, Who::System, r"C:\Windows\System32\CompatTelRunner.exe", cmd);
        }
        8 => {
            let (image, cmd) = *g.rng.pick(&[
                (r"C:\Windows\System32\cleanmgr.exe", r"C:\Windows\system32\cleanmgr.exe /autoclean /d C:"),
                (r"C:\Windows\System32\defrag.exe", r"C:\Windows\system32\defrag.exe -c -h -o -$"),
                (r"C:\Windows\System32\usoclient.exe", r"C:\Windows\system32\usoclient.exe StartScan"),
                (r"C:\Windows\System32\sc.exe", r"C:\Windows\system32\sc.exe start w32time task_started"),
            ]);
            g.start(&schedule, Who::System, image, cmd);
        }
        9 | 10 => {
            let task = g.rng.pick(&["WdCacheMaintenance", "WdCleanup", "WdVerification"]);
            let cmd = format!(r#""{MPCMDRUN}" -IdleTask -TaskName {task}"#);
            g.start(&schedule, Who::System, MPCMDRUN, cmd);
        }
        11 | 12 if server => {
            let script = g.rng.pick(&["rotate-logs", "purge-temp", "archive-iis-logs", "check-disk"]);
            let cmd = format!(r"C:\Windows\system32\cmd.exe /d /c C:\Scripts\Maintenance\{script}.cmd");
            let shell = g.console(&schedule, Who::System, CMD, cmd, r"C:\Scripts\Maintenance\", Kind::Benign);
            let days = g.rng.range(7, 30);
            let cmd = format!(r#"forfiles  /p D:\Logs /s /m *.log /d -{days} /c "cmd /c del @path""#);
            g.spawn(
                &shell,
                Who::System,
                r"C:\Windows\System32\forfiles.exe",
                cmd,
                r"C:\Scripts\Maintenance\",
                Kind::Benign,
            );
        }
        13 => {
            let cmd = format!(r#""{POWERSHELL}" -NoProfile -NonInteractive -Command "{}""#, admin_oneliner(g));
            g.console(&schedule, Who::System, POWERSHELL, cmd, "", Kind::Benign);
        }
        _ => {
            g.start(&schedule, Who::User, TASKHOSTW, "taskhostw.exe");
        }
    }
}

/// .NET native image generation after a framework update: a burst of mscorsvw.exe workers.
pub(super) fn ngen(g: &mut Generator, h: usize) {
    let schedule = g.resident(h, "schedule");
    let host = g.start(&schedule, Who::System, TASKHOSTW, "taskhostw.exe");
    let fw = if g.rng.chance(700) { "Framework64" } else { "Framework" };
    let dir = format!(r"C:\Windows\Microsoft.NET\{fw}\v4.0.30319");
    let cmd = format!(r#""{dir}\NGenTask.exe" /RuntimeWide /StopEvent:{}"#, g.rng.range(400, 2_000));
    let task = g.start(&host, Who::System, &format!(r"{dir}\NGenTask.exe"), cmd);
    let cmd = format!(r#""{dir}\ngen.exe" ExecuteQueuedItems /LegacyServiceBehavior"#);
    let ngen = g.start(&task, Who::System, &format!(r"{dir}\ngen.exe"), cmd);
    for _ in 0..g.rng.range(4, 16) {
        let cmd = format!(
            r#"{dir}\mscorsvw.exe -StartupEvent {:x} -InterruptEvent 0 -NGENProcess {:x} -Pipe {:x} -Comment "NGen Worker Process""#,
            g.rng.range(0x100, 0xfff),
            g.rng.range(0x100, 0xfff),
            g.rng.range(0x100, 0xfff)
        );
        g.start(&ngen, Who::System, &format!(r"{dir}\mscorsvw.exe"), cmd);
    }
}

pub(super) fn windows_update(g: &mut Generator, h: usize) {
    match g.rng.below(4) {
        0 => {
            let uso = g.resident(h, "usosvc");
            let cmd = r"C:\Windows\System32\mousocoreworker.exe -Embedding";
            g.start(&uso, Who::System, r"C:\Windows\System32\MoUsoCoreWorker.exe", cmd);
        }
        1 => {
            let services = g.resident(h, "services");
            let ti = r"C:\Windows\servicing\TrustedInstaller.exe";
            g.start(&services, Who::System, ti, ti);
            let dcom = g.resident(h, "dcom");
            let image = r"C:\Windows\WinSxS\amd64_microsoft-windows-servicingstack_31bf3856ad364e35_10.0.22621.4380_none_7d2a9c1e5b3f8a40\TiWorker.exe";
            g.start(&dcom, Who::System, image, format!("{image} -Embedding"));
        }
        2 => {
            let wu = g.resident(h, "wuauserv");
            let cmd = r#""C:\Windows\system32\wuauclt.exe" /RunHandlerComServer"#;
            g.start(&wu, Who::System, r"C:\Windows\System32\wuauclt.exe", cmd);
        }
        _ => {
            let wu = g.resident(h, "wuauserv");
            let version = g.rng.pick(&["1.421.1633.0", "1.421.1702.0"]);
            let image = format!(r"C:\Windows\SoftwareDistribution\Download\Install\AM_Delta_Patch_{version}.exe");
            let cmd = format!(r#""{image}" WD /q"#);
            g.spawn(&wu, Who::System, &image, cmd, r"C:\Windows\SoftwareDistribution\Download\Install\", Kind::Benign);
        }
    }
}

pub(super) fn search(g: &mut Generator, h: usize) {
    let indexer = g.resident(h, "search");
    if g.rng.chance(600) {
        let n = g.rng.range(2, 4_000);
        let cmd = format!(
            r#""C:\Windows\system32\SearchProtocolHost.exe" Global\UsGthrFltPipeMssGthrPipe{n}_ Global\UsGthrCtrlFltPipeMssGthrPipe{n} 1 -2147483646 "Software\Microsoft\Windows Search" "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT; MS Search 4.0 Robot)" "C:\ProgramData\Microsoft\Search\Data\Temp\usgthrsvc" "DownLevelDaemon" "#
        );
        g.start(&indexer, Who::System, r"C:\Windows\System32\SearchProtocolHost.exe", cmd);
    } else {
        let mut n = || g.rng.range(200, 1_200) * 4;
        let cmd =
            format!(r#""C:\Windows\system32\SearchFilterHost.exe" 0 {} {} {} 8192 {} {} "#, n(), n(), n(), n(), n());
        g.start(&indexer, Who::System, r"C:\Windows\System32\SearchFilterHost.exe", cmd);
    }
}

pub(super) fn system_misc(g: &mut Generator, h: usize) {
    match g.rng.below(8) {
        6 | 7 => {
            // Windows Error Reporting for a crashed process.
            let dcom = g.resident(h, "dcom");
            let (pid, who) = (g.rng.pid(), if g.rng.chance(500) { Who::User } else { Who::System });
            let cmd = if who == Who::User {
                format!(r"C:\Windows\system32\WerFault.exe -u -p {pid} -s {}", g.rng.range(100, 2_000))
            } else {
                format!(
                    r"C:\Windows\system32\WerFault.exe -pss -s {} -p {pid} -ip {}",
                    g.rng.range(100, 2_000),
                    pid - 4
                )
            };
            g.start(&dcom, who, r"C:\Windows\System32\WerFault.exe", cmd);
        }
        0 | 1 => {
            let appinfo = g.resident(h, "appinfo");
            let cmd = format!("consent.exe {} {} {}", g.rng.pid(), g.rng.range(200, 900), g.rng.hex(16, true));
            g.start(&appinfo, Who::System, r"C:\Windows\System32\consent.exe", cmd);
        }
        2 => {
            let services = g.resident(h, "services");
            let port =
                |g: &mut Generator| format!(r"\UMDFCommunicationPorts\WUDF\HostProcess-{}", &g.rng.guid(false)[1..37]);
            let cmd = format!(
                r#""C:\Windows\System32\WUDFHost.exe" -HostGUID:{{193a1820-d9ac-4997-8c55-be817523f6aa}} -IoEventPortName:{} -SystemEventPortName:{} -IoCancelEventPortName:{} -NonStateChangingEventPortName:{} -LifetimeId:{} -DeviceGroupId:WpdFsGroup -HostArg:0"#,
                port(g),
                port(g),
                port(g),
                port(g),
                &g.rng.guid(false)[1..37]
            );
            g.start(&services, Who::LocalService, r"C:\Windows\System32\WUDFHost.exe", cmd);
        }
        3 => {
            let audio = g.resident(h, "audiosrv");
            let cmd = format!(r"C:\Windows\system32\AUDIODG.EXE 0x{:x}", g.rng.range(0x300, 0x1400));
            g.start(&audio, Who::LocalService, r"C:\Windows\System32\audiodg.exe", cmd);
        }
        _ => {
            let dcom = g.resident(h, "dcom");
            let args: Vec<String> =
                (0..13).map(|i| if i < 5 { g.rng.range(0, 30_000).to_string() } else { "0".into() }).collect();
            let cmd = format!(r#""C:\Windows\system32\wermgr.exe" "-outproc" "{}" "#, args.join(r#"" ""#));
            g.start(&dcom, Who::System, r"C:\Windows\System32\wermgr.exe", cmd);
        }
    }
}
