//! Benign user applications: browsers, Teams, OneDrive, Office, desktop programs.

use super::*;

#[derive(Clone, Copy)]
pub(super) enum BrowserChild {
    Renderer,
    Extension,
    Gpu,
    Utility,
    Crashpad,
}

pub(super) fn browser(g: &mut Generator, h: usize) {
    let chrome = g.fleet.hosts[h].chrome != g.rng.chance(60);
    let key = if chrome { "chrome" } else { "msedge" };
    let main = match g.fleet.hosts[h].procs.get(key) {
        Some(p) if !g.rng.chance(30) => p.clone(),
        _ => {
            // A browser (re)start: the main process, then its crash handler, GPU and network.
            let explorer = g.resident(h, "explorer");
            let exe = if chrome { CHROME } else { EDGE };
            let cmd = if g.rng.chance(700) {
                format!(r#""{exe}" "#)
            } else {
                let page = g.rng.pick(&["intranet", "wiki", "helpdesk", "expenses", "hr"]);
                format!(r#""{exe}" --single-argument https://{page}.{DOMAIN}/"#)
            };
            let main = g.spawn(&explorer, Who::User, exe, cmd, &app_dir(exe), Kind::Benign);
            g.fleet.hosts[h].procs.insert(key, main.clone());
            for child in [BrowserChild::Crashpad, BrowserChild::Gpu, BrowserChild::Utility] {
                browser_child(g, h, &main, chrome, child);
            }
            return;
        }
    };
    let child = *g.rng.weighted(&[
        (64, BrowserChild::Renderer),
        (8, BrowserChild::Extension),
        (6, BrowserChild::Gpu),
        (20, BrowserChild::Utility),
        (2, BrowserChild::Crashpad),
    ]);
    browser_child(g, h, &main, chrome, child);
}

pub(super) fn app_dir(exe: &str) -> String {
    exe[..=exe.rfind('\\').unwrap_or(0)].to_string()
}

pub(super) fn browser_child(g: &mut Generator, h: usize, main: &Proc, chrome: bool, child: BrowserChild) {
    let (exe, version) = if chrome { (CHROME, "131.0.6778.86") } else { (EDGE, "131.0.2903.70") };
    let cwd = format!(r"{}{version}\", app_dir(exe));
    let edge = if chrome { "" } else { "--no-pre-read-main-dll " };
    let mojo = g.rng.range(1_000, 9_000);
    let user = g.user(h);
    let b = &g.fleet.hosts[h].browser;
    let (fth, sv, en, dis) = (&b.field_trial, &b.seed_version, &b.enable, &b.disable);
    let (cmd, who) = match child {
        BrowserChild::Renderer | BrowserChild::Extension => {
            let extension = match child {
                BrowserChild::Extension => "--extension-process ",
                _ => "",
            };
            let js = if chrome { "" } else { "--js-flags=--ms-user-locale= " };
            let cmd = format!(
                r#""{exe}" --type=renderer {edge}{extension}--video-capture-use-gpu-memory-buffer --lang=en-US {js}--device-scale-factor={} --num-raster-threads=4 --enable-main-frame-before-activation --renderer-client-id={} --time-ticks-at-unix-epoch=-{} --launch-time-ticks={} --field-trial-handle={fth} --enable-features={en} --disable-features={dis} --variations-seed-version={sv} --mojo-platform-channel-handle={mojo} /prefetch:1"#,
                b.scale,
                b.next_client,
                b.epoch_ticks,
                (g.clock_ms - 1_793_000_000_000) * 1000 + mojo,
            );
            g.fleet.hosts[h].browser.next_client += 1;
            (cmd, Who::Low)
        }
        BrowserChild::Gpu => (
            format!(
                r#""{exe}" --type=gpu-process {edge}--gpu-preferences={} --field-trial-handle={fth} --enable-features={en} --disable-features={dis} --variations-seed-version={sv} --mojo-platform-channel-handle={mojo} /prefetch:2"#,
                b.gpu_prefs
            ),
            Who::User,
        ),
        BrowserChild::Utility => {
            let (service, sandbox, prefetch) = *g.rng.pick(&[
                ("network.mojom.NetworkService", "none", 3),
                ("network.mojom.NetworkService", "none", 3),
                ("storage.mojom.StorageService", "service", 8),
                ("audio.mojom.AudioService", "audio", 12),
                ("data_decoder.mojom.DataDecoderService", "service", 8),
            ]);
            let who = if sandbox == "none" { Who::User } else { Who::Low };
            let b = &g.fleet.hosts[h].browser;
            let cmd = format!(
                r#""{exe}" --type=utility --utility-sub-type={service} --lang=en-US --service-sandbox-type={sandbox} {edge}--field-trial-handle={} --variations-seed-version={} --mojo-platform-channel-handle={mojo} /prefetch:{prefetch}"#,
                b.field_trial, b.seed_version
            );
            (cmd, who)
        }
        BrowserChild::Crashpad => {
            let (data, product) = if chrome {
                (format!(r"C:\Users\{user}\AppData\Local\Google\Chrome\User Data"), "Google Chrome")
            } else {
                (format!(r"C:\Users\{user}\AppData\Local\Microsoft\Edge\User Data"), "Microsoft Edge")
            };
            let mut handles: Vec<String> = (0..5).map(|_| format!("0x{:x}", g.rng.range(0x200, 0x400))).collect();
            handles.extend((0..3).map(|_| format!("0x7ff{}", g.rng.hex(9, false))));
            let cmd = format!(
                r#""{exe}" --type=crashpad-handler "--user-data-dir={data}" /prefetch:4 --monitor-self-annotation=ptype=crashpad-handler "--database={data}\Crashpad" --annotation=IsOfficialBuild=1 --annotation=channel= --annotation=chromium-version=131.0.6778.86 "--annotation=exe={exe}" --annotation=plat=Win64 "--annotation=prod={product}" --annotation=ver={version} --initial-client-data={}"#,
                handles.join(",")
            );
            (cmd, Who::User)
        }
    };
    g.spawn(main, who, exe, cmd, &cwd, Kind::Benign);
}

pub(super) fn teams(g: &mut Generator, h: usize) {
    let user = g.user(h);
    let base = format!(r"C:\Users\{user}\AppData\Local\Microsoft\Teams");
    let exe = format!(r"{base}\current\Teams.exe");
    let main = match g.fleet.hosts[h].procs.get("teams") {
        Some(p) if !g.rng.chance(40) => p.clone(),
        _ => {
            let explorer = g.resident(h, "explorer");
            let cmd =
                format!(r#""{base}\Update.exe" --processStart "Teams.exe" --process-start-args "--system-initiated""#);
            let update =
                g.spawn(&explorer, Who::User, &format!(r"{base}\Update.exe"), cmd, &format!(r"{base}\"), Kind::Benign);
            let cmd = format!(r#""{exe}" --system-initiated"#);
            let main = g.spawn(&update, Who::User, &exe, cmd, &format!(r"{base}\current\"), Kind::Benign);
            g.fleet.hosts[h].procs.insert("teams", main.clone());
            main
        }
    };
    let mojo = g.rng.range(1_000, 9_000);
    let b = &g.fleet.hosts[h].browser;
    let cmd = if g.rng.chance(750) {
        let kind = g.rng.pick(&["mainWindow", "mainWindow", "pluginHost", "preloadedWebview"]);
        let cmd = format!(
            r#""{exe}" --type=renderer --autoplay-policy=no-user-gesture-required --disable-background-timer-throttling --field-trial-handle={} --disable-features={} --lang=en-US --app-user-model-id=com.squirrel.Teams.Teams --app-path="{base}\current\resources\app.asar" --no-sandbox --no-zygote --enable-media-stream --device-scale-factor={} --num-raster-threads=4 --enable-main-frame-before-activation --renderer-client-id={} --mojo-platform-channel-handle={mojo} /prefetch:1 --msteams-process-type={kind}"#,
            b.field_trial, b.disable, b.scale, b.next_client
        );
        g.fleet.hosts[h].browser.next_client += 1;
        cmd
    } else {
        format!(
            r#""{exe}" --type=gpu-process --field-trial-handle={} --disable-features={} --gpu-preferences={} --mojo-platform-channel-handle={mojo} /prefetch:2 --msteams-process-type=gpuProcess"#,
            b.field_trial, b.disable, b.gpu_prefs
        )
    };
    g.spawn(&main, Who::User, &exe, cmd, &format!(r"{base}\current\"), Kind::Benign);
}

pub(super) fn onedrive(g: &mut Generator, h: usize) {
    let user = g.user(h);
    let dir = if g.fleet.hosts[h].onedrive_in_profile {
        format!(r"C:\Users\{user}\AppData\Local\Microsoft\OneDrive")
    } else {
        r"C:\Program Files\Microsoft OneDrive".to_string()
    };
    match g.rng.below(4) {
        0 => {
            let explorer = g.resident(h, "explorer");
            let cmd = format!(r#""{dir}\OneDrive.exe" /background"#);
            g.start(&explorer, Who::User, &format!(r"{dir}\OneDrive.exe"), cmd);
        }
        1 => {
            let schedule = g.resident(h, "schedule");
            let cmd = format!(r#""{dir}\OneDriveStandaloneUpdater.exe" /reporting"#);
            g.start(&schedule, Who::User, &format!(r"{dir}\OneDriveStandaloneUpdater.exe"), cmd);
        }
        _ => {
            let dcom = g.resident(h, "dcom");
            let image = format!(r"{dir}\24.211.1020.0002\FileCoAuth.exe");
            g.start(&dcom, Who::User, &image, format!(r#""{image}" -Embedding"#));
        }
    }
}

/// Open an Office document from Explorer or from an Outlook attachment; returns the Office process.
pub(super) fn open_document(g: &mut Generator, h: usize, app: &str, ext: &str, kind: Kind) -> Proc {
    let user = g.user(h);
    let (parent, doc) = if g.rng.chance(300) {
        let outlook = g.resident(h, "outlook");
        let cache = g.rng.chars(8, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789");
        let topic = g.rng.pick(&DOC_TOPICS);
        let doc =
            format!(r"C:\Users\{user}\AppData\Local\Microsoft\Windows\INetCache\Content.Outlook\{cache}\{topic}.{ext}");
        (outlook, doc)
    } else {
        (g.resident(h, "explorer"), g.document(h, ext))
    };
    let image = format!(r"{OFFICE}\{app}");
    let cmd = match app {
        "WINWORD.EXE" => format!(r#""{image}" /n "{doc}" /o """#),
        _ => format!(r#""{image}" "{doc}""#),
    };
    g.spawn(&parent, Who::User, &image, cmd, "", kind)
}

pub(super) fn office(g: &mut Generator, h: usize) {
    let (app, ext) = *g.rng.pick(&[
        ("WINWORD.EXE", "docx"),
        ("WINWORD.EXE", "docx"),
        ("EXCEL.EXE", "xlsx"),
        ("EXCEL.EXE", "xlsx"),
        ("POWERPNT.EXE", "pptx"),
    ]);
    open_document(g, h, app, ext, Kind::Benign);
}

pub(super) fn desktop_app(g: &mut Generator, h: usize) {
    let explorer = g.resident(h, "explorer");
    let user = g.user(h);
    let (image, cmd) = match g.rng.below(7) {
        0 | 1 => {
            let doc = g.document(h, "txt");
            (r"C:\Windows\System32\notepad.exe".to_string(), format!(r#""C:\Windows\system32\NOTEPAD.EXE" {doc}"#))
        }
        2 => {
            let snap = g.rng.pick(&["compmgmt.msc", "devmgmt.msc", "eventvwr.msc", "services.msc", "certmgr.msc"]);
            (
                r"C:\Windows\System32\mmc.exe".into(),
                format!(r#""C:\Windows\system32\mmc.exe" "C:\Windows\system32\{snap}" "#),
            )
        }
        3 => {
            let zip = format!(
                r"C:\Users\{user}\Downloads\{}-{}.zip",
                g.rng.pick(&["photos", "logs", "export", "drivers", "scans"]),
                g.rng.range(1, 999)
            );
            (r"C:\Program Files\7-Zip\7zFM.exe".into(), format!(r#""C:\Program Files\7-Zip\7zFM.exe" "{zip}""#))
        }
        4 => (r"C:\Windows\System32\mspaint.exe".into(), r#""C:\Windows\system32\mspaint.exe" "#.into()),
        _ => {
            let outlook = format!(r"{OFFICE}\OUTLOOK.EXE");
            let cmd = format!(r#""{outlook}" "#);
            let p = g.start(&explorer, Who::User, &outlook, cmd);
            g.fleet.hosts[h].procs.insert("outlook", p);
            return;
        }
    };
    g.start(&explorer, Who::User, &image, cmd);
}
