//! Benign developer activity: git, dotnet, MSBuild and the C++ tool chain, Python, Node.

use super::*;

pub(super) const SOURCE_FILES: [&str; 8] = [
    "src/Api/Controllers/InvoiceController.cs",
    "src/Domain/Orders/OrderService.cs",
    "src/Infrastructure/Sql/Migrations.cs",
    "tests/Unit/OrderServiceTests.cs",
    "web/src/components/Checkout.tsx",
    "web/src/api/client.ts",
    "jobs/load_orders.py",
    "README.md",
];

pub(super) fn dev_git(g: &mut Generator, h: usize) {
    let repo = g.fleet.hosts[h].repo;
    let cwd = format!(r"C:\src\{repo}\");
    let from_code = g.rng.chance(650);
    let parent = g.resident(h, if from_code { "code" } else { "pwsh" });
    let file = g.rng.pick(&SOURCE_FILES);
    let args = match g.rng.below(12) {
        0 | 1 => "status -z -uall".to_string(),
        2 => format!("cat-file -s {}", g.rng.hex(40, false)),
        3 => "fetch".into(),
        4 => "for-each-ref --sort -committerdate --format %(refname)%00%(objectname)%00%(*objectname)".into(),
        5 => format!("log --oneline -n {} origin/main..HEAD", g.rng.range(5, 50)),
        6 => format!("show --textconv {}:{file}", g.rng.hex(40, false)),
        7 => format!("diff --no-color --unified=3 -- {file}"),
        8 => format!(
            "checkout -q -b feature/{}-{}",
            g.rng.pick(&["BILL", "PORT", "ETL", "INV"]),
            g.rng.range(100, 2_400)
        ),
        9 => "pull --rebase origin main".into(),
        10 => "commit --quiet --allow-empty-message --file -".into(),
        _ => format!("blame --root --incremental {} -- {file}", g.rng.hex(40, false)),
    };
    let cmd = if from_code { format!(r#""{GIT}" {args}"#) } else { format!("git {args}") };
    let git = g.spawn(&parent, Who::User, GIT, cmd, &cwd, Kind::Benign);
    if g.rng.chance(250) {
        let inner = r"C:\Program Files\Git\mingw64\bin\git.exe";
        g.spawn(&git, Who::User, inner, format!(r#""{inner}" {args}"#), &cwd, Kind::Benign);
    }
}

pub(super) fn dev_build(g: &mut Generator, h: usize) {
    let repo = g.fleet.hosts[h].repo;
    let sln = solution(repo);
    let cwd = format!(r"C:\src\{repo}\");
    if g.rng.chance(550) {
        // dotnet CLI from the terminal: build or test, with its MSBuild node and compiler server.
        let pwsh = g.resident(h, "pwsh");
        let verb = g.rng.pick(&["build", "test", "build -c Release", "test --no-build", "run --project src/Api"]);
        let cli = g.spawn(&pwsh, Who::User, DOTNET, format!("dotnet {verb}"), &cwd, Kind::Benign);
        let cmd = format!(r#""{DOTNET}" "{DOTNET_SDK}\MSBuild.dll" -nologo -nodemode:1 -nodeReuse:true -low:false"#);
        g.spawn(&cli, Who::User, DOTNET, cmd, &cwd, Kind::Benign);
        if g.rng.chance(500) {
            let pipe = base64(&g.rng.bytes(18)).replace(['+', '/'], "_");
            let cmd = format!(r#""{DOTNET}" "{DOTNET_SDK}\Roslyn\bincore\VBCSCompiler.dll" "-pipename:{pipe}""#);
            g.spawn(&cli, Who::User, DOTNET, cmd, &cwd, Kind::Benign);
        }
        if verb.starts_with("test") {
            let out = format!(r"C:\src\{repo}\tests\{sln}.Tests\bin\Debug\net8.0");
            let port = g.rng.range(49_152, 65_000);
            let cmd = format!(
                r#""{out}\testhost.exe" --runtimeconfig "{out}\{sln}.Tests.runtimeconfig.json" --depsfile "{out}\{sln}.Tests.deps.json" --port {port} --endpoint 127.0.0.1:0{port} --role client --parentprocessid {} --datacollectionport {} --telemetryoptedin false"#,
                cli.pid,
                port - 1
            );
            g.spawn(&cli, Who::User, &format!(r"{out}\testhost.exe"), cmd, &format!(r"{out}\"), Kind::Benign);
        }
    } else {
        // Visual Studio: an MSBuild node, then the C++ compiler and linker under Tracker.
        let devenv = g.resident(h, "devenv");
        let msbuild = format!(r"{VS}\MSBuild\Current\Bin\amd64\MSBuild.exe");
        let cmd = format!(r#""{msbuild}" /nologo /nodemode:1 /nodeReuse:true /low:false"#);
        let node = g.spawn(&devenv, Who::User, &msbuild, cmd, &cwd, Kind::Benign);
        let config = g.rng.pick(&["Debug", "Release"]);
        let tlog = format!(r"x64\{config}\{sln}Native.tlog");
        let tracker = format!(r"{VS}\MSBuild\Current\Bin\amd64\Tracker.exe");
        let sources: Vec<String> = (0..g.rng.range(1, 12))
            .map(|i| format!(r"native\src\{}.cpp", ["codec", "ledger", "hash", "io", "pool", "parse"][i as usize % 6]))
            .collect();
        let cl_args = format!(
            r#"/c /Zi /nologo /W4 /WX- /diagnostics:column /sdl /O2 /Oi /GL /D NDEBUG /D _CONSOLE /D _UNICODE /D UNICODE /Gm- /EHsc /MD /GS /Gy /fp:precise /permissive- /Zc:wchar_t /Zc:forScope /Zc:inline /Fo"x64\{config}\\" /Fd"x64\{config}\vc143.pdb" /external:W4 /Gd /TP /FC /errorReport:queue {}"#,
            sources.join(" ")
        );
        let cmd = format!(
            r#""{tracker}" /a /if "{tlog}" /r "{}" /c "{MSVC_BIN}\CL.exe" {cl_args}"#,
            sources.join(";").to_uppercase()
        );
        let tr = g.spawn(&node, Who::User, &tracker, cmd, &cwd, Kind::Benign);
        let cmd = format!(r#""{MSVC_BIN}\CL.exe" {cl_args}"#);
        g.spawn(&tr, Who::User, &format!(r"{MSVC_BIN}\CL.exe"), cmd, &cwd, Kind::Benign);
        if g.rng.chance(400) {
            let cmd = format!(
                r#""{MSVC_BIN}\link.exe" /ERRORREPORT:QUEUE /OUT:"x64\{config}\{sln}Native.dll" /INCREMENTAL:NO /NOLOGO kernel32.lib user32.lib advapi32.lib /MANIFEST /MANIFESTUAC:NO /DEBUG /PDB:"x64\{config}\{sln}Native.pdb" /OPT:REF /OPT:ICF /LTCG:incremental /TLBID:1 /DYNAMICBASE /NXCOMPAT /MACHINE:X64 /DLL x64\{config}\*.obj"#
            );
            g.spawn(&node, Who::User, &format!(r"{MSVC_BIN}\link.exe"), cmd, &cwd, Kind::Benign);
        }
    }
}

pub(super) fn dev_script(g: &mut Generator, h: usize) {
    let repo = g.fleet.hosts[h].repo;
    let user = g.user(h);
    let cwd = format!(r"C:\src\{repo}\");
    let pwsh = g.resident(h, "pwsh");
    if g.rng.chance(600) {
        let python = format!(r"C:\Users\{user}\AppData\Local\Programs\Python\Python312\python.exe");
        let args = match g.rng.below(5) {
            0 => format!("-m pytest tests -q -x -k {}", g.rng.pick(&["orders", "billing", "smoke", "parser"])),
            1 => "-m pip install -r requirements.txt".to_string(),
            2 => format!("-m http.server {}", g.rng.range(8_000, 8_999)),
            3 => format!(
                r"jobs\load_orders.py --since 2026-{:02}-{:02} --batch {} --out C:\Users\{user}\AppData\Local\Temp\orders-{}.csv",
                g.rng.range(1, 10),
                g.rng.range(1, 28),
                g.rng.pick(&[100, 500, 1000]),
                g.rng.range(1_000, 99_999)
            ),
            _ => "-m black --check .".to_string(),
        };
        g.spawn(&pwsh, Who::User, &python, format!(r#""{python}" {args}"#), &cwd, Kind::Benign);
    } else {
        let node = r"C:\Program Files\nodejs\node.exe";
        let script = g.rng.pick(&["build", "test", "lint", "dev"]);
        let cmd = format!(r#""{node}" "C:\Program Files\nodejs\node_modules\npm\bin\npm-cli.js" run {script}"#);
        let npm = g.spawn(&pwsh, Who::User, node, cmd, &cwd, Kind::Benign);
        if *script == "dev" {
            let cmd =
                format!(r#""{node}" C:\src\{repo}\node_modules\vite\bin\vite.js --port {}"#, g.rng.range(5_173, 5_190));
            g.spawn(&npm, Who::User, node, cmd, &cwd, Kind::Benign);
        }
    }
}
